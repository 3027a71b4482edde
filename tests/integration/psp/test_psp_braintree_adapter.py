"""BraintreeGateway through the real SDK against the local Braintree sandbox over HTTP."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from connectors.psp.braintree import BraintreeGateway
from crm_pay.domain.errors import ConfigurationError, PspProtocolError, PspUnavailable
from crm_pay.domain.money import Money
from crm_pay.ports import PspTxnStatus, SaleRequest, WebhookNotification

sandbox = pytest.importorskip("connectors.psp.braintree_sandbox")

pytestmark = pytest.mark.sandbox

CREDENTIALS = {
    "merchant_id": "crmpay_it",
    "public_key": "it_public",
    "private_key": "it_private",
}


class _WebhookInbox(BaseHTTPRequestHandler):
    """Collects the sandbox's form-encoded ``bt_signature``/``bt_payload`` posts."""

    received: list[tuple[str, str]] = []
    arrived = threading.Condition()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        with self.arrived:
            self.received.append((form["bt_signature"][0], form["bt_payload"][0]))
            self.arrived.notify_all()
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def inbox() -> Iterator[type[_WebhookInbox]]:
    server = HTTPServer(("127.0.0.1", 0), _WebhookInbox)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _WebhookInbox.url = f"http://127.0.0.1:{server.server_port}/hooks"  # type: ignore[attr-defined]
    yield _WebhookInbox
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def server(inbox: type[_WebhookInbox]) -> Iterator[Any]:
    s = sandbox.SandboxServer(
        sandbox.SandboxConfig(
            **CREDENTIALS,
            port=0,
            assets_port=0,
            webhook_url=inbox.url,  # type: ignore[attr-defined]
            timeout_fault_seconds=1.5,
        )
    )
    s.start()
    yield s
    s.stop()


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def sale_request(amount: str = "42.50", **overrides: Any) -> SaleRequest:
    fields: dict[str, Any] = {
        "amount": usd(amount),
        "order_id": f"pay-{uuid.uuid4().hex[:12]}",
        "request_key": uuid.uuid4().hex,
        "payment_method_nonce": "fake-valid-nonce",
    }
    fields.update(overrides)
    return SaleRequest(**fields)


def test_approved_sale_can_be_found_by_id_and_order_id(gateway: BraintreeGateway) -> None:
    request = sale_request(transaction_source="moto")
    outcome = gateway.sale(request)

    assert outcome.approved, outcome.decline
    txn = outcome.transaction
    assert txn is not None
    assert txn.status is PspTxnStatus.SUBMITTED_FOR_SETTLEMENT
    assert txn.amount == usd("42.50")
    assert txn.order_id == request.order_id
    assert txn.card is not None and len(txn.card.last4) == 4

    found = gateway.find(txn.id)
    assert found is not None and found.id == txn.id and found.amount == txn.amount
    assert [t.id for t in gateway.find_by_order_id(request.order_id)] == [txn.id]


def test_unknown_transaction_is_none(gateway: BraintreeGateway) -> None:
    assert gateway.find("doesnotexist") is None
    assert list(gateway.find_by_order_id("pay-never-sent")) == []


def test_processor_decline_2001(gateway: BraintreeGateway) -> None:
    outcome = gateway.sale(sale_request("2001.00"))
    assert not outcome.approved
    assert outcome.decline is not None
    assert (outcome.decline.kind, outcome.decline.code) == ("processor", "2001")
    assert outcome.transaction is not None
    assert outcome.transaction.status is PspTxnStatus.PROCESSOR_DECLINED


def test_gateway_failure_3000(gateway: BraintreeGateway) -> None:
    outcome = gateway.sale(sale_request("3000.00"))
    assert not outcome.approved
    assert outcome.decline is not None
    assert (outcome.decline.kind, outcome.decline.code) == ("failed", "3000")


def test_same_api_request_key_charges_once(gateway: BraintreeGateway, server: Any) -> None:
    request = sale_request()
    first = gateway.sale(request)
    second = gateway.sale(request)
    assert first.transaction is not None and second.transaction is not None
    assert first.transaction.id == second.transaction.id
    assert server.sales_count(request.order_id) == 1


def test_timeout_is_unknown_and_a_retry_with_the_same_key_finds_the_sale(
    server: Any,
) -> None:
    impatient = BraintreeGateway.for_local_sandbox(server.gateway_url, **CREDENTIALS, timeout=0.5)
    request = sale_request()
    server.fail_next("timeout")
    with pytest.raises(PspUnavailable):
        impatient.sale(request)
    retry = BraintreeGateway.for_local_sandbox(server.gateway_url, **CREDENTIALS).sale(request)
    assert retry.approved
    assert server.sales_count(request.order_id) == 1


@pytest.mark.parametrize(("fault", "error"), [("500", PspUnavailable), ("429", PspUnavailable)])
def test_gateway_faults_mean_outcome_unknown(
    gateway: BraintreeGateway, server: Any, fault: str, error: type[Exception]
) -> None:
    server.fail_next(fault)
    with pytest.raises(error) as info:
        gateway.sale(sale_request())
    assert not isinstance(info.value, PspProtocolError)
    assert fault in str(info.value) or "ServerError" in str(info.value)


def test_malformed_answer_is_a_protocol_error(gateway: BraintreeGateway, server: Any) -> None:
    server.fail_next("malformed")
    with pytest.raises(PspProtocolError):
        gateway.sale(sale_request())


def test_wrong_private_key_is_a_configuration_error(server: Any) -> None:
    wrong = BraintreeGateway.for_local_sandbox(
        server.gateway_url, **{**CREDENTIALS, "private_key": "not_it"}
    )
    with pytest.raises(ConfigurationError):
        wrong.sale(sale_request())


def test_authorize_capture_partially(gateway: BraintreeGateway) -> None:
    auth = gateway.sale(sale_request("80.00", submit_for_settlement=False))
    assert auth.transaction is not None
    assert auth.transaction.status is PspTxnStatus.AUTHORIZED
    captured = gateway.submit_for_settlement(auth.transaction.id, usd("60.00"))
    assert captured.approved
    assert captured.transaction is not None
    assert captured.transaction.amount == usd("60.00")


def test_void_an_authorization(gateway: BraintreeGateway) -> None:
    auth = gateway.sale(sale_request(submit_for_settlement=False))
    assert auth.transaction is not None
    voided = gateway.void(auth.transaction.id)
    assert voided.approved
    assert voided.transaction is not None
    assert voided.transaction.status is PspTxnStatus.VOIDED


def test_refund_a_settled_sale_once_per_key(gateway: BraintreeGateway, server: Any) -> None:
    sale = gateway.sale(sale_request("30.00"))
    assert sale.transaction is not None
    server.settle(sale.transaction.id)

    key = uuid.uuid4().hex
    refund = gateway.refund(sale.transaction.id, usd("10.00"), request_key=key)
    again = gateway.refund(sale.transaction.id, usd("10.00"), request_key=key)

    assert refund.approved, refund.decline
    credit = refund.transaction
    assert credit is not None and again.transaction is not None
    assert credit.kind == "credit"
    assert credit.amount == usd("10.00")
    assert credit.refunded_transaction_id == sale.transaction.id
    assert again.transaction.id == credit.id


def test_search_returns_recent_transactions(gateway: BraintreeGateway) -> None:
    sale = gateway.sale(sale_request())
    assert sale.transaction is not None
    now = datetime.now(UTC)
    found = gateway.search(now - timedelta(minutes=5), now + timedelta(minutes=5))
    assert sale.transaction.id in {t.id for t in found}


def test_client_token(gateway: BraintreeGateway) -> None:
    assert gateway.client_token()


def _next_webhook(
    inbox: type[_WebhookInbox], gateway: BraintreeGateway, kind: str, subject_id: str
) -> WebhookNotification:
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    with inbox.arrived:
        while datetime.now(UTC) < deadline:
            for signature, payload in inbox.received:
                note = gateway.parse_webhook(signature, payload)
                if note.event_id.startswith(f"{kind}:{subject_id}:"):
                    return note
            inbox.arrived.wait(0.2)
    pytest.fail(f"no {kind} webhook for {subject_id} arrived")


def test_signed_webhooks_verify_and_map(
    gateway: BraintreeGateway, server: Any, inbox: type[_WebhookInbox]
) -> None:
    sale = gateway.sale(sale_request("55.00"))
    assert sale.transaction is not None
    server.settle(sale.transaction.id)
    # A card's settlement sends no webhook at Braintree (transaction_settled is for ACH /
    # bank accounts); ask for a signed sample, as braintree_python's WebhookTesting does.
    server.send_webhook("transaction_settled", sale.transaction.id)
    dispute_id = server.open_dispute(sale.transaction.id)

    settled = _next_webhook(inbox, gateway, "transaction_settled", sale.transaction.id)
    assert settled.transaction is not None
    assert settled.transaction.status is PspTxnStatus.SETTLED

    opened = _next_webhook(inbox, gateway, "dispute_opened", dispute_id)
    assert opened.dispute_amount == usd("55.00")
    assert opened.transaction is not None
    assert opened.transaction.id == sale.transaction.id
