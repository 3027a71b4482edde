"""3-D Secure through BraintreeGateway, the real SDK and the local sandbox: what the
bank's check gave is read from the transaction, and a merchant who requires a liability
shift gets a sale refused (with true words) when the check gave none."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from connectors.psp.braintree import BraintreeGateway
from crm_pay.domain.declines import DeclineCategory
from crm_pay.domain.money import Money
from crm_pay.domain.three_d_secure import check_words
from crm_pay.ports import SaleRequest

sandbox = pytest.importorskip("connectors.psp.braintree_sandbox")

pytestmark = pytest.mark.sandbox

CREDENTIALS = {"merchant_id": "crmpay_3ds", "public_key": "t_pub", "private_key": "t_priv"}
# braintree_python braintree/test/nonces.py
AUTHENTICATED = "fake-three-d-secure-two-visa-successful-frictionless-authentication-nonce"
FAILED = "fake-three-d-secure-visa-failed-authentication-nonce"
NOT_ENROLLED = "fake-three-d-secure-visa-not-enrolled-nonce"


def _sale(nonce: str, **fields: Any) -> SaleRequest:
    return SaleRequest(
        amount=Money.parse("40.00", "USD"),
        order_id=f"pay-{uuid.uuid4().hex[:12]}",
        request_key=uuid.uuid4().hex,
        payment_method_nonce=nonce,
        **fields,
    )


def test_an_authenticated_nonce_pays_with_the_liability_shifted(gateway: BraintreeGateway) -> None:
    outcome = gateway.sale(_sale(AUTHENTICATED, three_d_secure_required=True))
    assert outcome.transaction is not None and outcome.decline is None
    check = outcome.transaction.three_d_secure
    assert check is not None
    assert (check.status, check.liability_shifted, check.liability_shift_possible) == (
        "authenticate_successful",
        True,
        True,
    )
    assert check.version == "2.2.0"
    assert check_words(check.status, check.liability_shifted) == (
        "Confirmed by the card's bank (3-D Secure)"
    )
    # the same transaction read back (as the janitor and reconciliation do)
    found = gateway.find(outcome.transaction.id)
    assert found is not None and found.three_d_secure == check


@pytest.mark.parametrize("nonce", [FAILED, NOT_ENROLLED, "fake-valid-nonce"])
def test_required_refuses_a_sale_without_a_liability_shift(
    gateway: BraintreeGateway, nonce: str
) -> None:
    outcome = gateway.sale(_sale(nonce, three_d_secure_required=True))
    assert outcome.decline is not None
    assert outcome.decline.kind == "gateway"
    assert outcome.decline.category == DeclineCategory.AUTHENTICATION_FAILED.value
    assert "did not confirm the payment (3-D Secure)" in outcome.decline.advice().message


@pytest.mark.parametrize("nonce", [FAILED, "fake-valid-nonce"])
def test_without_the_rule_the_sale_goes_ahead_and_says_what_the_check_gave(
    gateway: BraintreeGateway, nonce: str
) -> None:
    outcome = gateway.sale(_sale(nonce))
    assert outcome.transaction is not None and outcome.decline is None
    check = outcome.transaction.three_d_secure
    if nonce == FAILED:
        assert check is not None and check.status == "authenticate_failed"
        assert check.liability_shifted is False
        assert check_words(check.status, False) == "The card's bank did not confirm it (3-D Secure)"
    else:
        assert check is None  # no 3DS check ran for this nonce


def test_a_mail_or_telephone_order_is_outside_sca(gateway: BraintreeGateway) -> None:
    outcome = gateway.sale(
        _sale("fake-valid-nonce", three_d_secure_required=True, transaction_source="moto")
    )
    assert outcome.transaction is not None and outcome.decline is None
