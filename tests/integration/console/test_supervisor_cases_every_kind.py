"""Every case kind is opened by its real cause and resolved through the supervisor
console, its resolution time recorded.

Each cause is what happens in production: a PSP fault or notice through the sandbox (the
Braintree SDK itself for what the PSP does on its own), a reconciliation run, a CRM record
or a browser report with a card number, a mail server refusing a receipt, a pay page
script that changed. Two reconciliation kinds need *our* record to disagree with the PSP
(a mistyped PSP id, a payment kept in another currency): those edit the payment row, as
a restored database would; no case row is ever written by a test.

A new kind added to ``CASE_KINDS`` without a cause here fails
``test_every_kind_has_a_cause``.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import braintree
import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from connectors.psp.braintree import BraintreeGateway, card_entry_for
from connectors.psp.braintree_sandbox import SandboxServer
from connectors.psp.braintree_sandbox.webhooks import sign_notification
from crm_pay.page_scripts import pay_page_scripts
from crm_pay.persistence.models import Case, Payment, PaymentEventRow
from crm_pay.ports import DeliveryFailed
from crm_pay.services import fraud_rules
from crm_pay.services.cases import CASE_KINDS, RESOLUTIONS
from crm_pay.services.context import Context
from crm_pay.services.janitor import run_janitor
from crm_pay.services.script_inventory import sri
from crm_pay.services.webhooks import retry_pending_webhooks
from crm_pay.wiring import braintree_merchant_accounts
from crm_pay.worker import make_dispatcher
from paytest import SANDBOX, balance, create_link, csrf_of, paid, pay

HOOK = "/pay/webhooks/braintree"
TEST_VISA = "4111 1111 1111 1111"  # Braintree's published test card


@pytest.fixture
def sandbox(own_sandbox: SandboxServer) -> SandboxServer:
    """A sandbox of this test's own: reconciliation reads the PSP's whole day."""
    return own_sandbox


@dataclass
class World:
    app: Flask
    client: FlaskClient
    auth: dict[str, str]
    supervisor: dict[str, str]
    sandbox: SandboxServer
    ctx: Context

    def later(self, **delta: float) -> None:
        real = self.ctx.clock
        self.ctx.clock = lambda: real() + timedelta(**delta)

    def hook(self, form: dict[str, str]) -> Any:
        return self.client.post(HOOK, data=form)

    def sdk(self) -> braintree.BraintreeGateway:
        return self.sandbox.braintree_gateway()

    def reconcile_today(self) -> None:
        day = self.ctx.now().date().isoformat()
        resp = self.client.post(f"/pay/api/v1/reconciliations/{day}", headers=self.supervisor)
        assert resp.status_code == 200, resp.get_json()


def _sdk_samples() -> braintree.BraintreeGateway:
    """The SDK's own gateway with the sandbox's credentials: its webhook samples are
    signed as Braintree signs them."""
    return braintree.BraintreeGateway(
        braintree.Configuration(braintree.Environment.Development, **SANDBOX)
    )


def _refund_failed(w: World) -> None:
    p = paid(w.client, w.auth, "20.00")
    w.sandbox.settle(p["psp_reference"])
    resp = w.client.post(
        f"/pay/api/v1/payments/{p['id']}/refund",
        json={"amount": "5.00"},
        headers={**w.supervisor, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert resp.status_code == 201, resp.get_json()
    with w.ctx.db.transaction() as s:
        refund_id = s.scalar(
            select(PaymentEventRow.psp_reference).where(
                PaymentEventRow.payment_id == p["id"], PaymentEventRow.kind == "refund_succeeded"
            )
        )
    form = _sdk_samples().webhook_testing.sample_notification("refund_failed", refund_id)
    assert w.hook(form).get_json()["status"] == "processed"


def _overpaid(w: World) -> None:
    owed = balance(w.client, w.auth)
    paid(w.client, w.auth, f"{float(owed) + 25:.2f}")  # more than every open invoice


def _partial(w: World) -> None:
    # a pay link for INV-1004 (87.09 owed) that asks for and takes 40.00 of it
    paid(w.client, w.auth, "40.00", allocations={"INV-1004": "40.00"})


def _disputed(w: World) -> None:
    p = paid(w.client, w.auth, "30.00")
    dispute = w.sandbox.open_dispute(p["psp_reference"])
    assert w.hook(w.sandbox.webhook_form("dispute_opened", dispute)).status_code == 200


def _amount_mismatch(w: World) -> None:
    _, p = create_link(w.client, w.auth, amount="31.00")
    w.sandbox.fail_next("malformed")  # the PSP's answer to the sale cannot be trusted
    assert pay(w.client, p["pay_url"]).get_json()["status"] == "unknown"


def _unknown_at_psp(w: World) -> None:
    _, p = create_link(w.client, w.auth, amount="62.00")
    w.sandbox.fail_next("500")
    assert pay(w.client, p["pay_url"]).get_json()["status"] == "unknown"
    real = w.ctx.clock
    for step in range(1, 8):
        w.ctx.clock = lambda step=step: real() + timedelta(hours=step * 2)  # type: ignore[misc]
        w.sandbox.fail_next("500")  # the PSP cannot be asked at any check
        run_janitor(w.ctx)
    w.ctx.clock = real


def _receipt_undeliverable(w: World) -> None:
    paid(w.client, w.auth, "42.00")
    mailbox = w.ctx.email.wrapped_adapter  # type: ignore[attr-defined]

    def refused(message: Any) -> None:
        raise DeliveryFailed("the mail server refused the recipient: 550 no such mailbox")

    mailbox.send = refused
    make_dispatcher(w.ctx).drain()


def _webhook_rejected(w: World) -> None:
    p = paid(w.client, w.auth, "12.00")
    form = w.sandbox.webhook_form("transaction_settled", p["psp_reference"])
    public_key, _, mac = form["bt_signature"].partition("|")
    forged = {"bt_signature": f"{public_key}|{'0' * len(mac)}", "bt_payload": form["bt_payload"]}
    assert w.hook(forged).get_json()["error"]["code"] == "webhook_rejected"


def _pan_in_payload(w: World) -> None:
    p = paid(w.client, w.auth, "9.00")
    with w.ctx.db.transaction() as s:  # a PSP reference that looks like a card number
        row = s.get(Payment, p["id"])
        assert row is not None
        row.psp_transaction_id = TEST_VISA.replace(" ", "")
    make_dispatcher(w.ctx).drain()  # the CRM sync's guard finds it on the way out


def _settlement_declined(w: World) -> None:
    p = paid(w.client, w.auth, "120.00")
    w.sandbox.settlement_decline(p["psp_reference"])
    w.later(seconds=w.ctx.settings.settlement_poll_seconds + 1)
    run_janitor(w.ctx)


def _webhook_failed(w: World) -> None:
    form = _sdk_samples().webhook_testing.sample_notification("transaction_settled", "not-ours")
    assert w.hook(form).get_json()["status"] == "pending"
    w.later(days=400)  # past the pending window: given up
    assert retry_pending_webhooks(w.ctx) == {"failed": 1}


def _duplicate_charge(w: World) -> None:
    p = paid(w.client, w.auth, "33.00")
    second = w.sdk().transaction.sale(  # a second sale under the same order id
        {
            "amount": "33.00",
            "order_id": f"{p['id']}-1",
            "payment_method_nonce": "fake-valid-nonce",
            "options": {"submit_for_settlement": True},
        }
    )
    assert second.is_success
    w.sandbox.settle(second.transaction.id)
    w.hook(w.sandbox.webhook_form("transaction_settled", second.transaction.id))


def _missing_in_ledger(w: World) -> None:
    sale = w.sdk().transaction.sale(
        {
            "amount": "42.00",
            "payment_method_nonce": "fake-valid-nonce",
            "options": {"submit_for_settlement": True},
        }
    )
    assert sale.is_success  # made at the PSP, not through us
    w.reconcile_today()


def _missing_at_psp(w: World) -> None:
    p = paid(w.client, w.auth, "15.00")
    with w.ctx.db.transaction() as s:  # a mistyped PSP id on our side
        row = s.get(Payment, p["id"])
        assert row is not None
        row.psp_transaction_id = "nosuchtxn"
    w.reconcile_today()


def _status_mismatch(w: World) -> None:
    p = paid(w.client, w.auth, "18.00")
    assert w.sdk().transaction.void(p["psp_reference"]).is_success  # voided at the PSP
    w.reconcile_today()


def _currency_mismatch(w: World) -> None:
    p = paid(w.client, w.auth, "19.00")
    with w.ctx.db.transaction() as s:  # our copy kept in another currency
        row = s.get(Payment, p["id"])
        assert row is not None
        row.currency = "EUR"
    w.reconcile_today()


def _crm_data_card_number(w: World) -> None:
    crm = w.ctx.crm.wrapped_adapter  # type: ignore[attr-defined]
    original = crm.find_customer("CUST-0002")
    crm.add_customer(dataclasses.replace(original, name=f"Bo {TEST_VISA} Ray"))
    assert w.client.get("/pay/api/v1/customers/CUST-0002", headers=w.auth).status_code == 200


def _webhook_card_number(w: World) -> None:
    form = sign_notification(
        "check",
        {"check": True, "note": f"card {TEST_VISA}"},
        public_key=SANDBOX["public_key"],
        private_key=SANDBOX["private_key"],
    )
    assert w.hook(form).get_json()["error"]["code"] == "webhook_card_number"


_CLIENT_JS = b"/* braintree client 3.111.0 */"
_FIELDS_JS = b"/* braintree hosted-fields 3.111.0 */"
_BRAINTREE_JS = "https://js.braintreegateway.com/web/3.111.0/js"


def _pay_page_script_changed(w: World) -> None:
    pinned = card_entry_for(
        "production",
        source="cdn",  # two of Braintree's CDN scripts pinned (the others left out)
        js_version="3.111.0",
        js_integrity={"client": sri(_CLIENT_JS), "hosted-fields": sri(_FIELDS_JS)},
    )
    w.ctx.psp = BraintreeGateway.for_local_sandbox(
        w.sandbox.gateway_url,
        merchant_id=SANDBOX["merchant_id"],
        public_key=SANDBOX["public_key"],
        private_key=SANDBOX["private_key"],
        merchant_accounts=braintree_merchant_accounts(dict(w.app.config)),
        card_entry=pinned,
    )
    inventory = pay_page_scripts(w.ctx)
    assert inventory is not None
    with responses.RequestsMock() as rsps:
        rsps.get(f"{_BRAINTREE_JS}/client.min.js", body=_CLIENT_JS)
        rsps.get(f"{_BRAINTREE_JS}/hosted-fields.min.js", body=_FIELDS_JS + b"steal();")
        inventory.check(w.ctx)


def _csp_violation(w: World) -> None:
    report = {
        "document-uri": "https://shop.test/pay/p/pl_token",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "blocked-uri": "http://127.0.0.1:9/x.js",
        "disposition": "enforce",
        "original-policy": "default-src 'none'",
    }
    resp = w.client.post(
        "/pay/csp-report",
        data=json.dumps({"csp-report": report}).encode(),
        content_type="application/csp-report",
    )
    assert resp.status_code == 204


def _fraud_review(w: World) -> None:
    # a fraud rule that holds every payment for review (crm_pay/services/fraud_screening.py)
    hold_all = {"id": "all", "kind": "velocity", "scope": "customer", "max_payments": 0}
    fraud_rules.save_rules(
        w.ctx, [{**hold_all, "window_minutes": 60}], actor="admin", note="", based_on=0
    )
    _, p = create_link(w.client, w.auth, amount="33.00")
    assert pay(w.client, p["pay_url"]).get_json()["status"] == "held"


CAUSES: dict[str, Callable[[World], None]] = {
    "failed": _refund_failed,
    "overpaid": _overpaid,
    "partial": _partial,
    "disputed": _disputed,
    "amount_mismatch": _amount_mismatch,
    "unknown_at_psp": _unknown_at_psp,
    "receipt_undeliverable": _receipt_undeliverable,
    "webhook_rejected": _webhook_rejected,
    "pan_in_payload": _pan_in_payload,
    "settlement_declined": _settlement_declined,
    "webhook_failed": _webhook_failed,
    "duplicate_charge": _duplicate_charge,
    "missing_in_ledger": _missing_in_ledger,
    "missing_at_psp": _missing_at_psp,
    "status_mismatch": _status_mismatch,
    "currency_mismatch": _currency_mismatch,
    "crm_data_card_number": _crm_data_card_number,
    "webhook_card_number": _webhook_card_number,
    "pay_page_script_changed": _pay_page_script_changed,
    "csp_violation": _csp_violation,
    "fraud_review": _fraud_review,
}
# Kinds only an action of the case page resolves (no resolution picked by hand): the form
# of that action and the resolution it records.
BY_ACTION = {"fraud_review": ("release-payment", "released")}


def test_every_kind_has_a_cause_and_resolutions() -> None:
    assert set(CAUSES) == set(CASE_KINDS)
    assert set(RESOLUTIONS) == set(CASE_KINDS)


@pytest.fixture
def world(
    app: Flask,
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> Iterator[World]:
    real_psp = ctx.psp
    yield World(app, client, auth, supervisor, sandbox, ctx)
    ctx.psp = real_psp


@pytest.mark.parametrize("kind", sorted(CASE_KINDS))
def test_each_kind_opens_by_its_cause_and_is_resolved_in_the_console(
    kind: str, world: World, signed_in: Callable[..., FlaskClient]
) -> None:
    CAUSES[kind](world)
    ctx = world.ctx
    with ctx.db.transaction() as s:
        found = s.scalars(select(Case).where(Case.kind == kind)).all()
        assert len(found) == 1, f"{kind}: {[c.kind for c in s.scalars(select(Case))]}"
        case_id, opened_at = found[0].id, found[0].opened_at
        assert found[0].status == "open" and found[0].due_at > opened_at
    sup = signed_in("supervisor")
    queue = sup.get(f"/pay/supervisor/?kind={kind}").text
    assert f'data-case="{case_id}"' in queue
    page = sup.get(f"/pay/supervisor/cases/{case_id}")
    assert page.status_code == 200
    if kind in BY_ACTION:
        action, recorded = BY_ACTION[kind]
        assert 'id="resolve-form"' not in page.text
        code = next(r for r in RESOLUTIONS[kind] if r.code == recorded)
        resp = sup.post(
            f"/pay/supervisor/cases/{case_id}/{action}",
            data={"csrf_token": csrf_of(page.text), "note": "dealt with", "idempotency_key": "k1"},
        )
    else:
        assert 'id="resolve-form"' in page.text
        # the first resolution a supervisor can pick (one only an action records is not
        # offered)
        code = next(r for r in RESOLUTIONS[kind] if not r.by_action)
        assert f'value="{code.code}"' in page.text
        resp = sup.post(
            f"/pay/supervisor/cases/{case_id}/resolve",
            data={"csrf_token": csrf_of(page.text), "code": code.code, "note": "dealt with"},
        )
    assert resp.status_code == 302
    with ctx.db.transaction() as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.status == ("closed" if code.closes else "resolved")
        assert case.resolution_code == code.code and case.resolved_by
        assert case.resolution_seconds is not None and case.resolution_seconds >= 0
    assert f'data-case="{case_id}"' not in sup.get(f"/pay/supervisor/?kind={kind}").text
