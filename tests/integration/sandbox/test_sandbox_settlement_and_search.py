"""Settlement through the SDK's testing gateway, and transaction search by status and time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import braintree
import pytest

from connectors.psp.braintree_sandbox import SandboxServer

pytestmark = pytest.mark.sandbox

Status = braintree.Transaction.Status
Search = braintree.TransactionSearch


def _order() -> str:
    return "order-" + uuid.uuid4().hex[:10]


def _sale(gateway, amount: str = "10.00", *, submit: bool = True, **extra: object):
    params = {"amount": amount, "payment_method_nonce": "fake-valid-nonce", **extra}
    if submit:
        params["options"] = {"submit_for_settlement": True}
    return gateway.transaction.sale(params).transaction


def _now() -> datetime:
    # The SDK writes datetimes as UTC wall time without converting: pass naive UTC.
    return datetime.now(UTC).replace(tzinfo=None)


def test_testing_gateway_settles_confirms_declines_and_pends(gateway):
    settled, confirmed, declined, pending = (_sale(gateway) for _ in range(4))

    assert gateway.testing.settle_transaction(settled.id).transaction.status == Status.Settled
    assert (
        gateway.testing.settlement_confirm_transaction(confirmed.id).transaction.status
        == Status.SettlementConfirmed
    )
    result = gateway.testing.settlement_decline_transaction(declined.id)
    assert result.transaction.status == Status.SettlementDeclined
    assert gateway.testing.settlement_pending_transaction(pending.id).transaction.status == (
        Status.SettlementPending
    )

    found = gateway.transaction.find(declined.id)
    assert found.status == Status.SettlementDeclined
    assert found.processor_settlement_response_code == "4001"
    assert found.processor_settlement_response_text == "Settlement Declined"
    assert gateway.transaction.find(pending.id).processor_settlement_response_code == "4002"


def test_settling_an_authorized_transaction_is_refused_with_91575(gateway):
    authorized = _sale(gateway, submit=False)

    result = gateway.testing.settle_transaction(authorized.id)

    assert not result.is_success
    assert [e.code for e in result.errors.for_object("transaction").on("base")] == ["91575"]
    assert gateway.transaction.find(authorized.id).status == Status.Authorized


def test_testing_gateway_on_unknown_transaction_raises_not_found(gateway):
    with pytest.raises(braintree.exceptions.NotFoundError):
        gateway.testing.settlement_decline_transaction("nosuchtxn")


def test_settlement_decline_helper_and_a_declined_sale_cannot_be_refunded(gateway, sandbox):
    transaction = _sale(gateway, submit=False)

    sandbox.settlement_decline(transaction.id)

    found = gateway.transaction.find(transaction.id)
    assert found.status == Status.SettlementDeclined
    refund = gateway.transaction.refund(transaction.id)
    assert [e.code for e in refund.errors.deep_errors] == ["91506"]


def test_settle_all_runs_one_batch_through_settling(gateway, sandbox):
    ids = [_sale(gateway).id for _ in range(3)]
    authorized = _sale(gateway, submit=False).id

    settled = sandbox.settle_all()

    assert set(ids) <= set(settled) and authorized not in settled
    for transaction_id in ids:
        history = [e.status for e in gateway.transaction.find(transaction_id).status_history]
        assert history[-2:] == ["settling", "settled"]
    assert gateway.transaction.find(authorized).status == Status.Authorized


def test_search_by_status_list_and_status_change_times(gateway, sandbox):
    order_id = _order()
    before = _now() - timedelta(seconds=2)
    settled = _sale(gateway, order_id=order_id)
    sandbox.settle(settled.id)
    voided = _sale(gateway, submit=False, order_id=order_id)
    gateway.transaction.void(voided.id)
    declined = gateway.transaction.sale(
        {"amount": "2001.00", "payment_method_nonce": "fake-valid-nonce", "order_id": order_id}
    ).transaction
    submitted = _sale(gateway, order_id=order_id)
    after = _now() + timedelta(seconds=2)
    mine = Search.order_id == order_id

    def ids(*criteria) -> set[str]:
        return {t.id for t in gateway.transaction.search(mine, *criteria)}

    assert ids(Search.status.in_list([Status.Settled, Status.Voided])) == {settled.id, voided.id}
    assert ids(Search.settled_at.between(before, after)) == {settled.id}
    assert ids(Search.voided_at.between(before, after)) == {voided.id}
    assert ids(Search.processor_declined_at.between(before, after)) == {declined.id}
    assert ids(Search.submitted_for_settlement_at.between(before, after)) == {
        settled.id,
        submitted.id,
    }
    assert ids(Search.authorized_at >= before) == {settled.id, voided.id, submitted.id}
    assert ids(Search.settled_at.between(after, after + timedelta(hours=1))) == set()
    assert ids(Search.type == braintree.Transaction.Type.Sale) == {
        settled.id,
        voided.id,
        declined.id,
        submitted.id,
    }
    assert ids(Search.ids.in_list([voided.id, "unknown"])) == {voided.id}


def test_search_by_merchant_account_and_credit_type(gateway, sandbox):
    order_id = _order()
    gbp = _sale(gateway, order_id=order_id, merchant_account_id="crm_pay_gbp")
    _sale(gateway, order_id=order_id)
    sandbox.settle(gbp.id)
    credit = gateway.transaction.refund(gbp.id).transaction
    mine = Search.order_id == order_id

    in_gbp = gateway.transaction.search(mine, Search.merchant_account_id.in_list(["crm_pay_gbp"]))
    credits = gateway.transaction.search(mine, Search.type == braintree.Transaction.Type.Credit)

    assert {t.id for t in in_gbp} == {gbp.id, credit.id}
    assert [t.id for t in credits] == [credit.id]
    assert credits.first.currency_iso_code == "GBP"


def test_search_pages_in_fifties_like_the_sdk(sandbox: SandboxServer):
    order_id = _order()
    gateway = sandbox.braintree_gateway()
    try:
        created = {_sale(gateway, submit=False, order_id=order_id).id for _ in range(55)}

        results = gateway.transaction.search(Search.order_id == order_id)

        assert results.maximum_size == 55
        assert {t.id for t in results.items} == created
    finally:
        gateway.config.close()


def test_unsupported_criteria_are_refused_loudly(gateway):
    with pytest.raises(braintree.exceptions.UnexpectedError):
        gateway.transaction.search(Search.billing_first_name == "Ada")
    with pytest.raises(braintree.exceptions.UnexpectedError):
        gateway.transaction.search(Search.disbursement_date >= _now())


# braintree_python tests/integration/test_settlement_batch_summary.py, case by case.
def test_settlement_batch_summary_of_a_day_without_settlements_is_empty(gateway):
    result = gateway.settlement_batch_summary.generate("2011-01-01")
    assert result.is_success
    assert result.settlement_batch_summary.records == []


def test_settlement_batch_summary_refuses_a_date_it_cannot_read(gateway):
    result = gateway.settlement_batch_summary.generate("THIS AINT NO DATE")
    assert not result.is_success
    errors = result.errors.for_object("settlement_batch_summary").on("settlement_date")
    assert [e.code for e in errors] == [
        braintree.ErrorCodes.SettlementBatchSummary.SettlementDateIsInvalid
    ]


def _visa_sales(gateway, day: str, account: str) -> tuple[int, str]:
    records = gateway.settlement_batch_summary.generate(day).settlement_batch_summary.records
    for r in records:
        if (r["merchant_account_id"], r["card_type"], r["kind"]) == (account, "Visa", "sale"):
            return int(r["count"]), r["amount_settled"]
    return 0, "0"


def test_settlement_batch_summary_counts_what_settled_that_day(gateway, sandbox: SandboxServer):
    day = _now().date().isoformat()
    usd_before, usd_amount_before = _visa_sales(gateway, day, "crm_pay_usd")
    gbp_before, _ = _visa_sales(gateway, day, "crm_pay_gbp")
    visa = _sale(gateway, "12.00")
    gbp = _sale(gateway, "7.00", merchant_account_id="crm_pay_gbp")
    _sale(gateway, "99.00")  # submitted, not settled: not in the batch
    for txn in (visa, gbp):
        sandbox.settle(txn.id)
    settled = gateway.transaction.find(visa.id)
    assert settled.settlement_batch_id.split("_")[0] == day
    usd_after, usd_amount_after = _visa_sales(gateway, day, "crm_pay_usd")
    assert usd_after == usd_before + 1
    assert Decimal(usd_amount_after) - Decimal(usd_amount_before) == Decimal("12.00")
    assert _visa_sales(gateway, day, "crm_pay_gbp")[0] == gbp_before + 1
    custom = gateway.settlement_batch_summary.generate(day, "store_me")
    assert not custom.is_success  # the sandbox keeps no custom fields (82303)
