"""Only Braintree's documented test nonces, each behaving as documented."""

from __future__ import annotations

import braintree
import pytest
from braintree.test.nonces import Nonces

from connectors.psp.braintree_sandbox.nonces import CONSUMED_NONCE, FAKE_NONCES

pytestmark = pytest.mark.sandbox


def _sale(gateway, nonce: str, amount: str = "10.00"):
    return gateway.transaction.sale({"amount": amount, "payment_method_nonce": nonce})


def test_every_simulated_nonce_is_one_braintree_documents():
    documented = {value for name, value in vars(Nonces).items() if not name.startswith("_")}

    assert set(FAKE_NONCES) | {CONSUMED_NONCE} <= documented


@pytest.mark.parametrize(
    ("nonce", "card_type"),
    [
        (Nonces.Transactable, "Visa"),
        (Nonces.TransactableVisa, "Visa"),
        (Nonces.TransactableMasterCard, "MasterCard"),
        (Nonces.TransactableAmEx, "American Express"),
        (Nonces.TransactableDiscover, "Discover"),
        (Nonces.TransactableJCB, "JCB"),
        (Nonces.TransactableMaestro, "Maestro"),
        (Nonces.TransactableDebit, "Visa"),
    ],
)
def test_valid_nonces_transact_and_follow_the_test_amounts(gateway, nonce, card_type):
    approved = _sale(gateway, nonce)
    declined = _sale(gateway, nonce, "2001.00")

    assert approved.is_success
    assert approved.transaction.credit_card_details.card_type == card_type
    assert declined.transaction.status == braintree.Transaction.Status.ProcessorDeclined


@pytest.mark.parametrize(
    "nonce",
    [
        Nonces.ProcessorDeclinedVisa,
        Nonces.ProcessorDeclinedMasterCard,
        Nonces.ProcessorDeclinedAmEx,
        Nonces.ProcessorDeclinedDiscover,
    ],
)
def test_processor_declined_nonces(gateway, nonce):
    result = _sale(gateway, nonce)

    assert not result.is_success
    assert result.transaction.status == braintree.Transaction.Status.ProcessorDeclined
    assert result.transaction.processor_response_code == "2000"


def test_processor_failure_nonce(gateway):
    result = _sale(gateway, Nonces.ProcessorFailureJCB)

    assert result.transaction.status == braintree.Transaction.Status.Failed
    assert result.transaction.processor_response_code == "3000"


def test_gateway_rejected_fraud_nonce(gateway):
    result = _sale(gateway, Nonces.GatewayRejectedFraud)

    assert not result.is_success
    assert result.transaction.status == braintree.Transaction.Status.GatewayRejected
    assert result.transaction.gateway_rejection_reason == (
        braintree.Transaction.GatewayRejectionReason.Fraud
    )
    assert result.message == "Gateway Rejected: fraud"


def test_luhn_invalid_nonce_is_a_card_number_validation_error(gateway, sandbox):
    before = len(sandbox.transactions)

    result = _sale(gateway, Nonces.LuhnInvalid)

    assert not result.is_success and result.transaction is None
    number = result.errors.for_object("transaction").for_object("credit_card").on("number")
    assert [e.code for e in number] == ["81715"]  # ErrorCodes.CreditCard.NumberIsInvalid
    assert len(sandbox.transactions) == before


def test_consumed_nonce_on_vaulting_uses_the_payment_method_code(gateway):
    result = gateway.payment_method.create({"payment_method_nonce": Nonces.Consumed})

    # ErrorCodes.PaymentMethod.PaymentMethodNonceConsumed
    assert [e.code for e in result.errors.deep_errors] == ["93107"]


@pytest.mark.parametrize(
    "nonce",
    # wallet nonces are simulated (test_sandbox_wallet_nonces.py); bank accounts are not
    ["fake-processor-failure-visa-nonce", Nonces.UsBankAccount, Nonces.LocalPayment],
)
def test_undocumented_or_unsimulated_nonces_are_unknown(gateway, nonce):
    result = _sale(gateway, nonce)

    assert [e.code for e in result.errors.deep_errors] == ["91565"]  # PaymentMethodNonceUnknown
