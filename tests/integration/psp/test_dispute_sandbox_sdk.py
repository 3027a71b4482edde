"""The development sandbox answers the SDK's evidence removal as Braintree does: the
three cases of braintree_python tests/integration/test_disputes.py
(``test_remove_evidence_*``), through ``braintree.BraintreeGateway`` unchanged."""

from __future__ import annotations

import braintree
import pytest
from braintree.exceptions.not_found_error import NotFoundError

from connectors.psp.braintree_sandbox import SandboxServer


@pytest.fixture
def sdk(sandbox: SandboxServer) -> braintree.BraintreeGateway:
    return sandbox.braintree_gateway()


def _dispute(sdk: braintree.BraintreeGateway, sandbox: SandboxServer) -> str:
    sale = sdk.transaction.sale(
        {
            "amount": "10.00",
            "payment_method_nonce": "fake-valid-nonce",
            "options": {"submit_for_settlement": True},
        }
    )
    assert sale.is_success, sale
    return sandbox.open_dispute(sale.transaction.id)


def test_remove_evidence_removes_evidence_from_the_dispute(
    sdk: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    dispute = _dispute(sdk, sandbox)
    evidence = sdk.dispute.add_text_evidence(dispute, "text evidence").evidence
    assert sdk.dispute.remove_evidence(dispute, evidence.id).is_success
    assert sdk.dispute.find(dispute).evidence == []


def test_remove_evidence_raises_error_when_dispute_or_evidence_not_found(
    sdk: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    message = "evidence with id 'unknown_evidence_id' for dispute with id 'unknown_dispute_id'"
    with pytest.raises(NotFoundError, match=message):
        sdk.dispute.remove_evidence("unknown_dispute_id", "unknown_evidence_id")
    dispute = _dispute(sdk, sandbox)
    with pytest.raises(NotFoundError):
        sdk.dispute.remove_evidence(dispute, "unknown_evidence_id")


def test_remove_evidence_errors_when_dispute_not_open(
    sdk: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    dispute = _dispute(sdk, sandbox)
    evidence = sdk.dispute.add_text_evidence(dispute, "text evidence").evidence
    assert sdk.dispute.accept(dispute).is_success
    result = sdk.dispute.remove_evidence(dispute, evidence.id)
    assert not result.is_success
    error = result.errors.for_object("dispute")[0]
    assert error.code == braintree.ErrorCodes.Dispute.CanOnlyRemoveEvidenceFromOpenDispute
    assert error.message == "Evidence can only be removed from disputes that are in an Open state"
