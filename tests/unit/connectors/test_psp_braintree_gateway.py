"""BraintreeGateway against a mocked Braintree gateway (``responses``).

The real SDK runs unchanged; only the HTTP layer is faked. Each mocked route carries
matchers, so a test fails when the request the SDK sends is wrong, not only when the
response is mapped wrong. XML bodies are hand-written in Braintree's wire format.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import requests
import responses
from responses import matchers

from connectors.psp.braintree import BraintreeGateway
from crm_pay.domain.errors import (
    ConfigurationError,
    PspProtocolError,
    PspUnavailable,
    ValidationError,
)
from crm_pay.domain.money import Money
from crm_pay.ports import PaymentGateway, PspTxnStatus, SaleRequest

BASE = "http://127.0.0.1:9"
MERCHANT = "crmpay_test_merchant"
TXNS = f"{BASE}/merchants/{MERCHANT}/transactions"


# --------------------------------------------------------------------------- helpers
def transaction_xml(
    *,
    txn_id: str = "7x9kq2ab",
    status: str = "submitted_for_settlement",
    amount: str = "12.34",
    currency: str = "USD",
    order_id: str = "pay_01HX-1",
    kind: str = "sale",
    processor_code: str = "1000",
    processor_text: str = "Approved",
    rejection: str | None = None,
    refunded_id: str | None = None,
    merchant_account: str = "crmpay_usd",
) -> str:
    """A Braintree ``<transaction>`` node; the card is Braintree's Visa test card.

    Braintree sends no ``masked-number`` (the SDK computes it from BIN + last 4 and
    would fail on one), so the adapter must not reach for that property.
    """
    rejection_xml = (
        f"<gateway-rejection-reason>{rejection}</gateway-rejection-reason>"
        if rejection
        else '<gateway-rejection-reason nil="true"/>'
    )
    refunded_xml = (
        f"<refunded-transaction-id>{refunded_id}</refunded-transaction-id>"
        if refunded_id
        else '<refunded-transaction-id nil="true"/>'
    )
    return f"""
<transaction>
  <id>{txn_id}</id>
  <status>{status}</status>
  <type>{kind}</type>
  <currency-iso-code>{currency}</currency-iso-code>
  <amount>{amount}</amount>
  <merchant-account-id>{merchant_account}</merchant-account-id>
  <order-id>{order_id}</order-id>
  <created-at type="datetime">2026-03-02T10:15:30Z</created-at>
  <updated-at type="datetime">2026-03-02T10:15:31Z</updated-at>
  <processor-response-code>{processor_code}</processor-response-code>
  <processor-response-text>{processor_text}</processor-response-text>
  <processor-response-type>approved</processor-response-type>
  {rejection_xml}
  {refunded_xml}
  <payment-instrument-type>credit_card</payment-instrument-type>
  <credit-card>
    <token nil="true"/>
    <bin>411111</bin>
    <last-4>1111</last-4>
    <card-type>Visa</card-type>
    <expiration-month>12</expiration-month>
    <expiration-year>2030</expiration-year>
    <customer-location>US</customer-location>
    <cardholder-name nil="true"/>
  </credit-card>
  <status-history type="array">
    <status-event>
      <timestamp type="datetime">2026-03-02T10:15:30Z</timestamp>
      <status>{status}</status>
      <amount>{amount}</amount>
      <user>crmpay</user>
      <transaction-source>api</transaction-source>
    </status-event>
  </status-history>
</transaction>"""


def document(body: str) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body


def declined_xml(txn: str, message: str) -> str:
    """Braintree's answer when a transaction was created but not successful."""
    return document(
        f"""<api-error-response>
  <errors><errors type="array"/></errors>
  <params><transaction><amount>12.34</amount><type>sale</type></transaction></params>
  <message>{message}</message>
  {txn}
</api-error-response>"""
    )


VALIDATION_XML = document(
    """<api-error-response>
  <errors>
    <errors type="array"/>
    <transaction>
      <errors type="array">
        <error>
          <code>91564</code>
          <attribute type="symbol">payment_method_nonce</attribute>
          <message>Cannot use a payment_method_nonce more than once.</message>
        </error>
      </errors>
    </transaction>
  </errors>
  <params><transaction><amount>12.34</amount><type>sale</type></transaction></params>
  <message>Cannot use a payment_method_nonce more than once.</message>
</api-error-response>"""
)


def xml_fields(**expected: str) -> Callable[[requests.PreparedRequest], tuple[bool, str]]:
    """A ``responses`` matcher: the XML body has these element paths with these texts
    (``"transaction/options/submit_for_settlement"`` style, root included)."""

    def match(request: requests.PreparedRequest) -> tuple[bool, str]:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        try:
            root = ET.fromstring(body or "")  # noqa: S314 - our own SDK wrote it
        except ET.ParseError:
            return False, f"request body is not XML: {body!r}"
        for path, text in expected.items():
            head, _, rest = path.partition("/")
            node = root if not rest else root.find(rest)
            if head != root.tag or node is None or (node.text or "") != text:
                return False, f"{path} is not {text!r} in {body}"
        return True, ""

    return match


def absent(*tags: str) -> Callable[[requests.PreparedRequest], tuple[bool, str]]:
    def match(request: requests.PreparedRequest) -> tuple[bool, str]:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        found = [tag for tag in tags if f"<{tag}" in body]
        return (not found, f"unexpected {found} in {body}")

    return match


AUTH = matchers.header_matcher({"X-ApiVersion": "6", "Content-type": "application/xml"})


@pytest.fixture
def psp() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def gateway() -> BraintreeGateway:
    return BraintreeGateway.for_local_sandbox(
        BASE,
        merchant_id=MERCHANT,
        public_key="test_public",
        private_key="test_private",
        merchant_account_id="crmpay_usd",
    )


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def sale_request(**overrides: object) -> SaleRequest:
    fields: dict[str, object] = {
        "amount": usd("12.34"),
        "order_id": "pay_01HX-1",
        "request_key": "idem-4f1c",
        "payment_method_nonce": "fake-valid-nonce",
        "device_data": '{"correlation_id":"c0ffee"}',
        "transaction_source": "moto",
    }
    fields.update(overrides)
    return SaleRequest(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- construction
def test_is_a_payment_gateway(gateway: BraintreeGateway) -> None:
    assert isinstance(gateway, PaymentGateway)
    assert gateway.name == "braintree"


def test_does_not_touch_the_sdk_global_configuration() -> None:
    import braintree

    before = dict(vars(braintree.Configuration))
    BraintreeGateway(merchant_id="m", public_key="p", private_key="k", environment="sandbox")
    assert dict(vars(braintree.Configuration)) == before


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1:8443", "http://127.0.0.1", "http://127.0.0.1:443", "ftp://x:1"]
)
def test_local_sandbox_url_must_be_plain_http_with_port(url: str) -> None:
    with pytest.raises(ConfigurationError):
        BraintreeGateway.for_local_sandbox(url, merchant_id="m", public_key="p", private_key="k")


def test_unknown_environment_says_how_to_fix() -> None:
    with pytest.raises(ConfigurationError, match="sandbox"):
        BraintreeGateway(merchant_id="m", public_key="p", private_key="k", environment="prod")


def test_empty_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="private_key"):
        BraintreeGateway(merchant_id="m", public_key="p", private_key="", environment="sandbox")


# --------------------------------------------------------------------------- sale: request
def test_sale_sends_exact_amount_order_nonce_source_and_api_request_key(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    psp.post(
        TXNS,
        status=201,
        body=document(transaction_xml()),
        match=[
            AUTH,
            xml_fields(
                **{
                    "transaction/amount": "12.34",
                    "transaction/order_id": "pay_01HX-1",
                    "transaction/payment_method_nonce": "fake-valid-nonce",
                    "transaction/device_data": '{"correlation_id":"c0ffee"}',
                    "transaction/transaction_source": "moto",
                    "transaction/api_request_key": "idem-4f1c",
                    "transaction/merchant_account_id": "crmpay_usd",
                    "transaction/options/submit_for_settlement": "true",
                    "transaction/type": "sale",
                }
            ),
            absent("payment_method_token", "customer_id"),
        ],
    )

    outcome = gateway.sale(sale_request())

    assert outcome.approved and outcome.decline is None
    txn = outcome.transaction
    assert txn is not None
    assert txn.id == "7x9kq2ab"
    assert txn.status is PspTxnStatus.SUBMITTED_FOR_SETTLEMENT
    assert txn.amount == usd("12.34")
    assert txn.order_id == "pay_01HX-1"
    assert txn.kind == "sale"
    assert txn.created_at == datetime(2026, 3, 2, 10, 15, 30, tzinfo=UTC)
    assert txn.processor_response_code == "1000"


def test_sale_with_vaulted_token_and_authorize_only(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    psp.post(
        TXNS,
        status=201,
        body=document(transaction_xml(status="authorized", amount="100.00")),
        match=[
            xml_fields(
                **{
                    "transaction/amount": "100.00",
                    "transaction/payment_method_token": "tok_visa_01",
                    "transaction/customer_id": "cust-77",
                    "transaction/options/submit_for_settlement": "false",
                }
            ),
            absent("payment_method_nonce", "device_data", "transaction_source"),
        ],
    )
    outcome = gateway.sale(
        sale_request(
            amount=usd("100.00"),
            payment_method_nonce=None,
            payment_method_token="tok_visa_01",
            customer_id="cust-77",
            device_data=None,
            transaction_source=None,
            submit_for_settlement=False,
        )
    )
    assert outcome.approved
    assert outcome.transaction is not None
    assert outcome.transaction.status is PspTxnStatus.AUTHORIZED


@pytest.mark.parametrize(
    "overrides",
    [
        {"payment_method_nonce": None},
        {"payment_method_token": "tok_1"},
        {"amount": Money.parse("12.34", "EUR")},
        {"amount": Money.zero("USD")},
    ],
)
def test_sale_refuses_bad_requests_before_calling_braintree(
    psp: responses.RequestsMock, gateway: BraintreeGateway, overrides: dict[str, object]
) -> None:
    with pytest.raises(ValidationError):
        gateway.sale(sale_request(**overrides))
    assert len(psp.calls) == 0


# --------------------------------------------------------------------------- sale: answers
@pytest.mark.parametrize(
    ("txn", "kind", "code", "status"),
    [
        (
            transaction_xml(
                amount="2001.00",
                status="processor_declined",
                processor_code="2001",
                processor_text="Insufficient Funds",
            ),
            "processor",
            "2001",
            PspTxnStatus.PROCESSOR_DECLINED,
        ),
        (
            transaction_xml(
                amount="2001.00",
                status="gateway_rejected",
                rejection="cvv",
                processor_code="1000",
            ),
            "gateway",
            "cvv",
            PspTxnStatus.GATEWAY_REJECTED,
        ),
        (
            transaction_xml(
                amount="2001.00",
                status="failed",
                processor_code="3000",
                processor_text="Processor Network Unavailable - Try Again",
            ),
            "failed",
            "3000",
            PspTxnStatus.FAILED,
        ),
    ],
    ids=["processor-declined-2001", "gateway-rejected-cvv", "failed-3000"],
)
def test_declines_are_values_with_their_codes(
    psp: responses.RequestsMock,
    gateway: BraintreeGateway,
    txn: str,
    kind: str,
    code: str,
    status: PspTxnStatus,
) -> None:
    psp.post(TXNS, status=422, body=declined_xml(txn, "Declined"))

    outcome = gateway.sale(sale_request(amount=usd("2001.00")))

    assert not outcome.approved
    assert outcome.decline is not None
    assert (outcome.decline.kind, outcome.decline.code) == (kind, code)
    assert outcome.transaction is not None
    assert outcome.transaction.status is status


def test_validation_errors_carry_the_first_error_code(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    psp.post(TXNS, status=422, body=VALIDATION_XML)
    outcome = gateway.sale(sale_request())
    assert not outcome.approved
    assert outcome.transaction is None
    assert outcome.decline is not None
    assert (outcome.decline.kind, outcome.decline.code) == ("validation", "91564")


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_side_failures_mean_outcome_unknown(
    psp: responses.RequestsMock, gateway: BraintreeGateway, status: int
) -> None:
    psp.post(TXNS, status=status, body="<html>upstream says no</html>")
    with pytest.raises(PspUnavailable) as info:
        gateway.sale(sale_request())
    assert not isinstance(info.value, PspProtocolError)
    assert "fake-valid-nonce" not in str(info.value)
    assert "idem-4f1c" not in str(info.value)


def test_rate_limit_is_an_unknown_outcome(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    # Retry-After is not carried on the error (PspUnavailable.retry_after was never read):
    # the janitor re-checks an unknown outcome on its own schedule.
    psp.post(TXNS, status=429, headers={"Retry-After": "17"}, body="")
    with pytest.raises(PspUnavailable, match="429") as info:
        gateway.sale(sale_request())
    assert not isinstance(info.value, PspProtocolError)
    assert not hasattr(info.value, "retry_after")


@pytest.mark.parametrize(
    "failure",
    [requests.exceptions.ReadTimeout(), requests.exceptions.ConnectionError("refused")],
    ids=["read-timeout", "connection-refused"],
)
def test_transport_failures_mean_outcome_unknown(
    psp: responses.RequestsMock, gateway: BraintreeGateway, failure: Exception
) -> None:
    psp.post(TXNS, body=failure)
    with pytest.raises(PspUnavailable, match="outcome unknown") as info:
        gateway.sale(sale_request())
    assert info.value.code == "psp_unavailable"


@pytest.mark.parametrize(
    "body",
    [
        "<transaction><id>x</id><amount>12.34",
        "not xml at all",
        document("<transaction><id>x</id><status>settled</status></transaction>"),
        "",
    ],
    ids=["truncated", "garbage", "no-amount", "empty"],
)
def test_unreadable_answers_are_protocol_errors(
    psp: responses.RequestsMock, gateway: BraintreeGateway, body: str
) -> None:
    psp.post(TXNS, status=201, body=body)
    with pytest.raises(PspProtocolError):
        gateway.sale(sale_request())


@pytest.mark.parametrize("status", [401, 403])
def test_credential_problems_are_configuration_errors(
    psp: responses.RequestsMock, gateway: BraintreeGateway, status: int
) -> None:
    psp.post(TXNS, status=status, body="")
    with pytest.raises(ConfigurationError, match="merchant id"):
        gateway.sale(sale_request())


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ({"amount": "1234.00"}, "psp_amount_mismatch"),
        ({"amount": "12.35"}, "psp_amount_mismatch"),
        ({"currency": "EUR"}, "psp_currency_mismatch"),
    ],
)
def test_amount_or_currency_other_than_asked_is_a_protocol_error(
    psp: responses.RequestsMock, gateway: BraintreeGateway, answer: dict[str, str], code: str
) -> None:
    psp.post(TXNS, status=201, body=document(transaction_xml(**answer)))
    with pytest.raises(PspProtocolError) as info:
        gateway.sale(sale_request())
    assert info.value.code == code


def test_a_declined_transaction_is_checked_too(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    txn = transaction_xml(amount="20.01", status="processor_declined", processor_code="2001")
    psp.post(TXNS, status=422, body=declined_xml(txn, "Insufficient Funds"))
    with pytest.raises(PspProtocolError):
        gateway.sale(sale_request(amount=usd("2001.00")))


def test_trailing_zeros_are_exact_not_rounded(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    psp.post(TXNS, status=201, body=document(transaction_xml(amount="12.3400")))
    outcome = gateway.sale(sale_request())
    assert outcome.transaction is not None
    assert outcome.transaction.amount == usd("12.34")


def test_sub_cent_amount_from_psp_is_a_protocol_error(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    psp.post(TXNS, status=201, body=document(transaction_xml(amount="12.341")))
    with pytest.raises(PspProtocolError):
        gateway.sale(sale_request())


def test_jpy_merchant_account(psp: responses.RequestsMock) -> None:
    gateway = BraintreeGateway.for_local_sandbox(
        BASE, merchant_id=MERCHANT, public_key="p", private_key="k", currency="JPY"
    )
    psp.post(
        TXNS,
        status=201,
        body=document(transaction_xml(amount="500", currency="JPY")),
        match=[xml_fields(**{"transaction/amount": "500"})],
    )
    outcome = gateway.sale(sale_request(amount=Money.parse("500", "JPY")))
    assert outcome.transaction is not None
    assert outcome.transaction.amount == Money(500, "JPY")


# --------------------------------------------------------------------------- card data
def test_card_summary_never_holds_more_than_bin_and_last4(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    psp.post(TXNS, status=201, body=document(transaction_xml()))
    outcome = gateway.sale(sale_request())
    assert outcome.transaction is not None
    card = outcome.transaction.card
    assert card is not None
    assert (card.brand, card.last4, card.exp_month, card.exp_year, card.bin) == (
        "Visa",
        "1111",
        "12",
        "2030",
        "411111",
    )
    # The masked number (BIN + mask + last 4) is never read; no field but ``bin`` has
    # more than four digits, and nothing anywhere joins BIN and last 4.
    rendered = repr(outcome)
    assert "******" not in rendered and "4111111111" not in rendered
    for name in ("brand", "last4", "exp_month", "exp_year", "wallet"):
        assert not re.search(r"\d{5,}", str(getattr(card, name) or ""))


# --------------------------------------------------------------------------- follow-ups
def test_submit_for_settlement_partial_amount(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    psp.put(
        f"{TXNS}/7x9kq2ab/submit_for_settlement",
        body=document(transaction_xml(amount="10.00")),
        match=[xml_fields(**{"transaction/amount": "10.00"})],
    )
    outcome = gateway.submit_for_settlement("7x9kq2ab", usd("10.00"))
    assert outcome.approved
    assert outcome.transaction is not None
    assert outcome.transaction.status is PspTxnStatus.SUBMITTED_FOR_SETTLEMENT


def test_submit_for_settlement_that_settles_another_amount_is_a_protocol_error(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    psp.put(f"{TXNS}/7x9kq2ab/submit_for_settlement", body=document(transaction_xml()))
    with pytest.raises(PspProtocolError):
        gateway.submit_for_settlement("7x9kq2ab", usd("10.00"))


def test_void(psp: responses.RequestsMock, gateway: BraintreeGateway) -> None:
    psp.put(f"{TXNS}/7x9kq2ab/void", body=document(transaction_xml(status="voided")))
    outcome = gateway.void("7x9kq2ab")
    assert outcome.approved
    assert outcome.transaction is not None
    assert outcome.transaction.status is PspTxnStatus.VOIDED


def test_void_refused_is_a_validation_decline(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    refused = VALIDATION_XML.replace("91564", "91504").replace(
        "Cannot use a payment_method_nonce more than once.",
        "Transaction can only be voided if status is authorized or submitted_for_settlement.",
    )
    psp.put(f"{TXNS}/7x9kq2ab/void", status=422, body=refused)
    outcome = gateway.void("7x9kq2ab")
    assert not outcome.approved
    assert outcome.decline is not None
    assert (outcome.decline.kind, outcome.decline.code) == ("validation", "91504")


def test_refund_sends_amount_and_api_request_key(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    credit = transaction_xml(
        txn_id="cr3d1t01", kind="credit", amount="5.00", refunded_id="7x9kq2ab"
    )
    psp.post(
        f"{TXNS}/7x9kq2ab/refund",
        status=201,
        body=document(credit),
        match=[
            AUTH,
            xml_fields(
                **{"transaction/amount": "5.00", "transaction/api_request_key": "refund-key-1"}
            ),
        ],
    )
    outcome = gateway.refund("7x9kq2ab", usd("5.00"), request_key="refund-key-1")
    assert outcome.approved
    txn = outcome.transaction
    assert txn is not None
    assert (txn.id, txn.kind, txn.refunded_transaction_id) == ("cr3d1t01", "credit", "7x9kq2ab")
    assert txn.amount == usd("5.00")


def test_full_refund_sends_no_amount(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    psp.post(
        f"{TXNS}/7x9kq2ab/refund",
        status=201,
        body=document(transaction_xml(txn_id="cr3d1t02", kind="credit", refunded_id="7x9kq2ab")),
        match=[xml_fields(**{"transaction/api_request_key": "refund-key-2"}), absent("amount")],
    )
    outcome = gateway.refund("7x9kq2ab", None, request_key="refund-key-2")
    assert outcome.approved


def test_refund_timeout_means_outcome_unknown(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    psp.post(f"{TXNS}/7x9kq2ab/refund", body=requests.exceptions.ReadTimeout())
    with pytest.raises(PspUnavailable):
        gateway.refund("7x9kq2ab", usd("5.00"), request_key="refund-key-3")


# --------------------------------------------------------------------------- lookups
def test_find(psp: responses.RequestsMock, gateway: BraintreeGateway) -> None:
    psp.get(f"{TXNS}/7x9kq2ab", body=document(transaction_xml(status="settled")))
    txn = gateway.find("7x9kq2ab")
    assert txn is not None
    assert txn.status is PspTxnStatus.SETTLED


def test_find_unknown_transaction_is_none(
    psp: responses.RequestsMock, gateway: BraintreeGateway
) -> None:
    psp.get(f"{TXNS}/nope", status=404, body="")
    assert gateway.find("nope") is None


def test_find_during_outage_raises(psp: responses.RequestsMock, gateway: BraintreeGateway) -> None:
    psp.get(f"{TXNS}/7x9kq2ab", status=503, body="")
    with pytest.raises(PspUnavailable):
        gateway.find("7x9kq2ab")


def _search_ids(*ids: str) -> str:
    items = "".join(f"<item>{i}</item>" for i in ids)
    return document(
        f'<search-results><page-size type="integer">50</page-size>'
        f'<ids type="array">{items}</ids></search-results>'
    )


def _search_page(*txns: str) -> str:
    return document(
        '<credit-card-transactions type="collection">'
        '<current-page-number type="integer">1</current-page-number>'
        f'<page-size type="integer">50</page-size><total-items type="integer">{len(txns)}'
        f"</total-items>{''.join(txns)}</credit-card-transactions>"
    )


def test_find_by_order_id(psp: responses.RequestsMock, gateway: BraintreeGateway) -> None:
    psp.post(
        f"{TXNS}/advanced_search_ids",
        body=_search_ids("7x9kq2ab", "cr3d1t01"),
        match=[xml_fields(**{"search/order_id/is": "pay_01HX-1"})],
    )
    psp.post(
        f"{TXNS}/advanced_search",
        body=_search_page(
            transaction_xml(),
            transaction_xml(txn_id="cr3d1t01", kind="credit", refunded_id="7x9kq2ab"),
        ),
        match=[xml_fields(**{"search/order_id/is": "pay_01HX-1", "search/ids/item": "7x9kq2ab"})],
    )
    found = gateway.find_by_order_id("pay_01HX-1")
    assert [(t.id, t.kind) for t in found] == [("7x9kq2ab", "sale"), ("cr3d1t01", "credit")]


def test_find_by_order_id_nothing(psp: responses.RequestsMock, gateway: BraintreeGateway) -> None:
    psp.post(f"{TXNS}/advanced_search_ids", body=_search_ids())
    assert list(gateway.find_by_order_id("pay_never_sent")) == []


def test_search_sends_utc_bounds(psp: responses.RequestsMock, gateway: BraintreeGateway) -> None:
    from datetime import timedelta, timezone

    paris = timezone(timedelta(hours=1))
    psp.post(
        f"{TXNS}/advanced_search_ids",
        body=_search_ids("7x9kq2ab"),
        match=[
            xml_fields(
                **{
                    "search/created_at/min": "2026-03-01T23:00:00Z",
                    "search/created_at/max": "2026-03-02T23:00:00Z",
                }
            )
        ],
    )
    psp.post(f"{TXNS}/advanced_search", body=_search_page(transaction_xml()))
    found = gateway.search(datetime(2026, 3, 2, tzinfo=paris), datetime(2026, 3, 3, tzinfo=paris))
    assert [t.id for t in found] == ["7x9kq2ab"]


def test_search_refuses_naive_datetimes(gateway: BraintreeGateway) -> None:
    with pytest.raises(ValidationError):
        gateway.search(datetime(2026, 3, 2), datetime(2026, 3, 3))


def test_client_token(psp: responses.RequestsMock, gateway: BraintreeGateway) -> None:
    psp.post(
        f"{BASE}/merchants/{MERCHANT}/client_token",
        status=201,
        body=document("<client-token><value>eyJ2ZXJzaW9uIjoyfQ==</value></client-token>"),
        match=[xml_fields(**{"client_token/merchant_account_id": "crmpay_usd"})],
    )
    assert gateway.client_token() == "eyJ2ZXJzaW9uIjoyfQ=="


# --------------------------------------------------------------------------- currencies
@pytest.fixture
def multi() -> BraintreeGateway:
    return BraintreeGateway.for_local_sandbox(
        BASE,
        merchant_id=MERCHANT,
        public_key="p",
        private_key="k",
        merchant_accounts={"usd": "crmpay_usd", "GBP": "crmpay_gbp", "JPY": "crmpay_jpy"},
    )


def test_each_currency_is_charged_on_its_own_merchant_account(
    psp: responses.RequestsMock, multi: BraintreeGateway
) -> None:
    assert multi.currencies == ("USD", "GBP", "JPY")
    for currency, amount, account in (("GBP", "12.34", "crmpay_gbp"), ("JPY", "500", "crmpay_jpy")):
        psp.post(
            TXNS,
            status=201,
            body=document(
                transaction_xml(amount=amount, currency=currency, merchant_account=account)
            ),
            match=[
                xml_fields(
                    **{
                        "transaction/amount": amount,
                        "transaction/merchant_account_id": account,
                    }
                )
            ],
        )
        outcome = multi.sale(sale_request(amount=Money.parse(amount, currency)))
        assert outcome.approved
        assert outcome.transaction is not None
        assert outcome.transaction.amount == Money.parse(amount, currency)
        psp.reset()


def test_a_currency_without_an_account_is_refused_before_any_call(
    psp: responses.RequestsMock, multi: BraintreeGateway
) -> None:
    with pytest.raises(ValidationError) as info:
        multi.sale(sale_request(amount=Money.parse("10.00", "CHF")))
    assert info.value.code == "currency_not_supported"
    assert "CHF" in info.value.message and "GBP" in info.value.message
    with pytest.raises(ValidationError):
        multi.client_token(currency="CHF")
    assert len(psp.calls) == 0


def test_client_token_is_bound_to_the_currency_account(
    psp: responses.RequestsMock, multi: BraintreeGateway
) -> None:
    psp.post(
        f"{BASE}/merchants/{MERCHANT}/client_token",
        status=201,
        body=document("<client-token><value>Z2Jw</value></client-token>"),
        match=[xml_fields(**{"client_token/merchant_account_id": "crmpay_gbp"})],
    )
    assert multi.client_token(currency="gbp") == "Z2Jw"


def test_client_token_refused_by_braintree_is_a_configuration_error(
    psp: responses.RequestsMock, multi: BraintreeGateway
) -> None:
    refused = VALIDATION_XML.replace("<transaction>", "<client-token>").replace(
        "</transaction>", "</client-token>"
    )
    refused = refused.replace("91564", "92807").replace(
        "Cannot use a payment_method_nonce more than once.", "Merchant account does not exist"
    )
    psp.post(f"{BASE}/merchants/{MERCHANT}/client_token", status=422, body=refused)
    with pytest.raises(ConfigurationError) as info:
        multi.client_token(currency="JPY")
    assert info.value.code == "psp_client_token_refused"
    assert "crmpay_jpy" in info.value.message


@pytest.mark.parametrize(
    ("account", "currency", "ok"),
    [
        ("crmpay_gbp", "GBP", True),
        ("crmpay_gbp", "USD", False),  # a GBP account answering in USD
        ("someone_else", "GBP", False),  # an account we do not know: held to the default
    ],
)
def test_full_refund_is_checked_against_the_currency_of_its_account(
    psp: responses.RequestsMock, multi: BraintreeGateway, account: str, currency: str, ok: bool
) -> None:
    credit = transaction_xml(
        txn_id="cr3d1t09",
        kind="credit",
        currency=currency,
        merchant_account=account,
        refunded_id="7x9kq2ab",
    )
    psp.post(f"{TXNS}/7x9kq2ab/refund", status=201, body=document(credit))
    if ok:
        assert multi.refund("7x9kq2ab", None, request_key="rk-9").approved
    else:
        with pytest.raises(PspProtocolError):
            multi.refund("7x9kq2ab", None, request_key="rk-9")


def test_partial_refund_in_another_currency_than_the_credit_is_a_protocol_error(
    psp: responses.RequestsMock, multi: BraintreeGateway
) -> None:
    credit = transaction_xml(
        txn_id="cr3d1t10", kind="credit", amount="5.00", refunded_id="7x9kq2ab"
    )  # USD
    psp.post(f"{TXNS}/7x9kq2ab/refund", status=201, body=document(credit))
    with pytest.raises(PspProtocolError):
        multi.refund("7x9kq2ab", Money.parse("5.00", "GBP"), request_key="rk-10")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"merchant_accounts": {}}, "at least one currency"),
        ({"merchant_accounts": {"XYZ": "a"}}, "XYZ"),
        ({"merchant_accounts": {"usd": "a", "USD": "b"}}, "twice"),
        ({"merchant_accounts": {"USD": "a", "GBP": "a"}}, "two currencies"),
        ({"merchant_accounts": {"USD": "has space"}}, "no spaces"),
        ({"merchant_accounts": {"USD": None, "GBP": None}}, "default account"),
        ({"merchant_accounts": {"USD": "a"}, "merchant_account_id": "b"}, "not both"),
        ({"currency": "ZZZ"}, "ZZZ"),
    ],
)
def test_merchant_accounts_are_validated_at_construction(
    kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        BraintreeGateway.for_local_sandbox(
            BASE,
            merchant_id=MERCHANT,
            public_key="p",
            private_key="k",
            **kwargs,  # type: ignore[arg-type]
        )
