"""A card the customer ticked to save, on a payment the fraud rules screen, through the
real braintree SDK against the sandbox: Braintree keeps it at the authorization, so a
held payment the supervisor releases makes it the customer's card on file with its
consent (and it stays once the sale settles), while an authorization crm-pay then refuses
(declined by the review, voided by the rules) leaves no card on file and none in
Braintree's vault (``PaymentMethod.delete``). A card on file the payment was charged with
is never deleted, nor is a saved card when a paid sale is voided afterwards."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import braintree
import pytest
import requests
from braintree.exceptions.not_found_error import NotFoundError
from flask.testing import FlaskClient
from sqlalchemy import select, update

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import OutboxMessage, Payment, SavedCardConsent
from crm_pay.ports import PaymentMethodVault, capability
from crm_pay.services import fraud_rules
from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.context import Context
from crm_pay.services.saved_cards import (
    VAULT_DELETE_TOPIC,
    SaveCardConsent,
    consent_wording,
    consents_for,
    saved_cards_of,
)
from crm_pay.services.settlement import refresh_from_psp
from crm_pay.testing import OutboxRunner
from paytest import create_link, token_of

CUSTOMER = "CUST-0001"
HOLD_EVERY_PAYMENT = {
    "id": "cust",
    "kind": "velocity",
    "scope": "customer",
    "max_payments": 0,
    "window_minutes": 60,
    "action": "review",
}


@pytest.fixture
def sdk(sandbox: SandboxServer) -> braintree.BraintreeGateway:
    return sandbox.braintree_gateway()


def _rules(ctx: Context, rules: list[dict[str, Any]]) -> None:
    based_on = fraud_rules.current_version(ctx)["version"]
    fraud_rules.save_rules(ctx, rules, actor="user:1:admin@example.com", note="", based_on=based_on)


def _pay_and_save(
    client: FlaskClient, auth: dict[str, str], ctx: Context, nonce: str
) -> dict[str, Any]:
    _, created = create_link(client, auth, amount="12.00")
    answer = pay_with_nonce(
        ctx,
        token_of(created["pay_url"]),
        nonce,
        save_card=SaveCardConsent(consent_wording(ctx), "en"),
    )
    return dict(answer, id=created["id"])


def _kept_at_psp(ctx: Context, payment_id: str) -> str:
    """The token Braintree kept with the payment's authorization."""
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None and payment.psp_transaction_id
        txn_id = payment.psp_transaction_id
    found = ctx.psp.find(txn_id)
    assert found is not None and found.card is not None and found.card.vault_token
    return found.card.vault_token


def _decide(client: FlaskClient, supervisor: dict[str, str], payment_id: str, action: str) -> Any:
    answer = client.post(
        f"/pay/api/v1/payments/{payment_id}/{action}",
        json={"note": "called the customer back on the number on file"},
        headers={**supervisor, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_a_held_payment_released_keeps_the_card_with_its_consent_once_it_settles(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    ctx: Context,
    sandbox: SandboxServer,
    sdk: braintree.BraintreeGateway,
) -> None:
    _rules(ctx, [HOLD_EVERY_PAYMENT])
    held = _pay_and_save(client, auth, ctx, "fake-valid-mastercard-nonce")
    assert held["status"] == "held"
    assert saved_cards_of(ctx, CUSTOMER) == []  # not the customer's card until released
    token = _kept_at_psp(ctx, held["id"])

    released = _decide(client, supervisor, held["id"], "release")
    assert released["status"] == "submitted_for_settlement"
    with ctx.db.transaction() as s:
        txn_id = s.get(Payment, held["id"]).psp_transaction_id  # type: ignore[union-attr]
    sandbox.settle(str(txn_id))
    OutboxRunner(ctx).drain()

    [card] = saved_cards_of(ctx, CUSTOMER)
    assert card.token == token and card.card.last4 == "4444"
    consent = consents_for(ctx, CUSTOMER)[token]
    assert consent["payment_id"] == held["id"] and consent["wording"] == consent_wording(ctx)
    assert sdk.payment_method.find(token).last_4 == "4444"  # still in Braintree's vault


def test_a_held_payment_declined_leaves_no_card_on_file_nor_in_the_vault(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    ctx: Context,
    sdk: braintree.BraintreeGateway,
) -> None:
    _rules(ctx, [HOLD_EVERY_PAYMENT])
    held = _pay_and_save(client, auth, ctx, "fake-valid-visa-nonce")
    token = _kept_at_psp(ctx, held["id"])
    assert sdk.payment_method.find(token).token == token  # Braintree kept it at the auth

    declined = _decide(client, supervisor, held["id"], "decline")
    assert declined["status"] == "declined"
    OutboxRunner(ctx).drain()

    assert saved_cards_of(ctx, CUSTOMER) == []
    with pytest.raises(NotFoundError):
        sdk.payment_method.find(token)
    with ctx.db.transaction() as s:
        # the consent stays as the record of what the customer agreed to, with no card
        [row] = s.scalars(select(SavedCardConsent)).all()
        assert row.payment_id == held["id"] and row.vault_token is None
        assert row.wording == consent_wording(ctx)


def test_a_screened_authorization_voided_by_the_rules_deletes_the_kept_card(
    client: FlaskClient,
    auth: dict[str, str],
    ctx: Context,
    sandbox: SandboxServer,
    sdk: braintree.BraintreeGateway,
) -> None:
    _rules(ctx, [{"id": "cvv", "kind": "cvv", "responses": {"N": "decline"}}])
    declined = _pay_and_save(client, auth, ctx, "fake-processor-declined-visa-nonce")
    # a processor decline vaults nothing (store_in_vault_on_success): nothing to delete
    assert declined["status"] == "declined"
    runner = OutboxRunner(ctx)
    runner.drain()
    assert runner.messages(VAULT_DELETE_TOPIC) == []

    # Braintree's sandbox answers CVV "200" with a mismatch (N)
    nonce = _tokenized(ctx, sandbox, cvv="200")
    voided = _pay_and_save(client, auth, ctx, nonce)
    assert voided["status"] == "declined"
    token = _kept_at_psp(ctx, voided["id"])
    runner.drain()

    with pytest.raises(NotFoundError):
        sdk.payment_method.find(token)
    assert saved_cards_of(ctx, CUSTOMER) == []
    [sent] = runner.messages(VAULT_DELETE_TOPIC)
    assert sent.status == "sent"


def test_a_deletion_the_psp_does_not_answer_is_tried_again_and_nothing_is_lost(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    ctx: Context,
    sandbox: SandboxServer,
    sdk: braintree.BraintreeGateway,
) -> None:
    _rules(ctx, [HOLD_EVERY_PAYMENT])
    held = _pay_and_save(client, auth, ctx, "fake-valid-visa-nonce")
    token = _kept_at_psp(ctx, held["id"])
    _decide(client, supervisor, held["id"], "decline")
    runner = OutboxRunner(ctx)

    sandbox.fail_next("500")
    runner.run_once()
    [waiting] = runner.messages(VAULT_DELETE_TOPIC)
    assert waiting.status == "pending" and waiting.attempts == 1
    assert sdk.payment_method.find(token).token == token  # not deleted yet, not forgotten

    with ctx.db.transaction() as s:
        # its back-off is over
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == waiting.id)
            .values(available_at=ctx.now())
        )
    runner.drain()
    with pytest.raises(NotFoundError):
        sdk.payment_method.find(token)
    # a second delivery of the same message (at least once) is harmless
    vault = capability(ctx.psp, PaymentMethodVault)
    assert vault is not None
    vault.delete_payment_method(token)


def test_a_held_card_on_file_payment_declined_keeps_the_customer_s_card(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    ctx: Context,
    sdk: braintree.BraintreeGateway,
) -> None:
    # a card saved earlier, on a payment the rules let through
    saved = _pay_and_save(client, auth, ctx, "fake-valid-mastercard-nonce")
    assert saved["status"] == "submitted_for_settlement"
    [card] = saved_cards_of(ctx, CUSTOMER)
    _rules(ctx, [HOLD_EVERY_PAYMENT])
    created = client.post(
        "/pay/api/v1/payments",
        json={
            "customer": CUSTOMER,
            "amount": "5.00",
            "currency": "USD",
            "channel": "vaulted",
            "payment_method_token": card.token,
            "customer_consent": True,
        },
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["status"] == "held", body
    assert _kept_at_psp(ctx, body["id"]) == card.token

    _decide(client, supervisor, body["id"], "decline")
    OutboxRunner(ctx).drain()

    assert [c.token for c in saved_cards_of(ctx, CUSTOMER)] == [card.token]
    assert sdk.payment_method.find(card.token).token == card.token


def test_a_paid_sale_voided_at_the_psp_keeps_its_saved_card_as_a_void_in_crm_pay_does(
    client: FlaskClient, auth: dict[str, str], ctx: Context, sdk: braintree.BraintreeGateway
) -> None:
    paid = _pay_and_save(client, auth, ctx, "fake-valid-visa-nonce")
    assert paid["status"] == "submitted_for_settlement"
    [card] = saved_cards_of(ctx, CUSTOMER)
    with ctx.db.transaction() as s:
        txn_id = str(s.get(Payment, paid["id"]).psp_transaction_id)  # type: ignore[union-attr]
    # someone voids the sale in Braintree's control panel; crm-pay learns it on a refresh
    assert sdk.transaction.void(txn_id).is_success
    refresh_from_psp(ctx, paid["id"])
    OutboxRunner(ctx).drain()

    with ctx.db.transaction() as s:
        assert s.get(Payment, paid["id"]).status == "voided"  # type: ignore[union-attr]
    # the customer consented to keep the card; taking the sale back does not undo that
    assert [c.token for c in saved_cards_of(ctx, CUSTOMER)] == [card.token]
    assert sdk.payment_method.find(card.token).token == card.token


def test_the_sandbox_deletes_a_vaulted_card_as_braintree_does(
    sdk: braintree.BraintreeGateway,
) -> None:
    # braintree_python tests/integration/test_payment_method.py::
    # test_delete_deletes_a_credit_card: success, then find raises NotFoundError
    created = sdk.payment_method.create({"payment_method_nonce": "fake-valid-visa-nonce"})
    assert created.is_success
    token = created.payment_method.token
    assert sdk.payment_method.delete(token).is_success
    with pytest.raises(NotFoundError):
        sdk.payment_method.find(token)
    with pytest.raises(NotFoundError):  # a token the vault does not have: 404
        sdk.payment_method.delete(token)


def _tokenized(ctx: Context, sandbox: SandboxServer, *, cvv: str) -> str:
    """A nonce of Braintree's test Visa tokenized with ``cvv`` on the sandbox's client API."""
    token = json.loads(base64.b64decode(ctx.psp.client_token()))
    card = {"number": "4111111111111111", "expirationDate": "12/39", "cvv": cvv}
    with requests.post(
        sandbox.assets_url + "/tokenize",
        json={"authorizationFingerprint": token["authorizationFingerprint"], **card},
        timeout=5,
    ) as response:
        assert response.status_code == 201, response.text
        return str(response.json()["nonce"])
