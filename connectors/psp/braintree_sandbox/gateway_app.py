"""The gateway origin: Braintree's ``/merchants/{id}/...`` XML API for the real SDK."""

from __future__ import annotations

import hmac
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, request

from .client_token import make_client_token
from .dispute_routes import register_dispute_routes
from .documents import (
    declined_document,
    search_document,
    search_ids_document,
    transaction_document,
    validation_document,
)
from .idempotency import Answer, answer_once
from .processing import Processor
from .records import TransactionNotFound, UnsupportedSearch, ValidationFailure, fail
from .search import matching_ids
from .vaulting import delete_from_vault
from .wallet_nonces import vaulted_wallet_document
from .xml_codec import Items, XmlFormatError, decode, encode

log = logging.getLogger("crm_pay.sandbox")

SANDBOX_HEADER = ("X-Sandbox", "crm-pay development sandbox")
FAULT_KINDS = ("timeout", "500", "429", "malformed")
PAGE_SIZE = 50
_XML = "application/xml; charset=utf-8"


class Faults:
    """Failures queued by tests; each gateway request consumes at most one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: deque[str] = deque()

    def add(self, kind: str, count: int) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, not {kind!r}")
        with self._lock:
            self._pending.extend([kind] * count)

    def take(self) -> str | None:
        with self._lock:
            return self._pending.popleft() if self._pending else None


@dataclass
class GatewaySettings:
    merchant_id: str
    public_key: str
    private_key: str
    timeout_fault_seconds: float
    stopping: threading.Event


def create_gateway_app(settings: GatewaySettings, processor: Processor, faults: Faults) -> Flask:
    """The Flask app that answers the SDK. Routes are relative to the merchant path."""
    app = Flask("crm_pay_braintree_sandbox_gateway")
    state = processor.state
    base = "/merchants/<merchant_id>"

    def xml(body: bytes, status: int = 200) -> Response:
        return Response(body, status=status, content_type=_XML)

    @app.before_request
    def authenticate_and_inject_faults() -> Response | None:
        if not request.path.startswith("/merchants/"):
            return None
        auth = request.authorization
        merchant_ok = request.path.split("/")[2] == settings.merchant_id
        if (
            auth is None
            or auth.type != "basic"
            or not hmac.compare_digest(auth.username or "", settings.public_key)
            or not hmac.compare_digest(auth.password or "", settings.private_key)
            or not merchant_ok
        ):
            return Response(status=401)
        fault = faults.take()
        if fault == "500":
            return Response(status=500)
        if fault == "429":
            return Response(status=429, headers={"Retry-After": "1"})
        if fault == "malformed":
            return xml(b"<?xml version='1.0'?><transaction><id>trunc")
        g.delay_response = fault == "timeout"
        return None

    @app.after_request
    def label_and_delay(response: Response) -> Response:
        response.headers[SANDBOX_HEADER[0]] = SANDBOX_HEADER[1]
        if g.get("delay_response"):
            # The work is done but the answer comes too late: the client sees a timeout
            # while the sandbox holds the outcome, like a real gateway under stress.
            settings.stopping.wait(settings.timeout_fault_seconds)
        return response

    @app.errorhandler(ValidationFailure)
    def validation_failed(error: ValidationFailure) -> Response:
        return xml(validation_document(error.errors, g.get("params", {})), 422)

    @app.errorhandler(TransactionNotFound)
    def not_found(_error: TransactionNotFound) -> Response:
        return Response(status=404)

    @app.errorhandler(XmlFormatError)
    def bad_xml(_error: XmlFormatError) -> Response:
        return Response(status=400)

    @app.errorhandler(UnsupportedSearch)
    def unsupported_search(error: UnsupportedSearch) -> Response:
        log.warning("development sandbox: %s", error)
        return Response(str(error), status=400, content_type="text/plain")

    def params(root: str) -> dict[str, Any]:
        g.params = decode(request.get_data())
        value = g.params.get(root) or {}
        return value if isinstance(value, dict) else {}

    def once(operation: str, body: dict[str, Any], run: Callable[[], Answer]) -> Response:
        status, answer = answer_once(state, operation, body, run)
        return xml(answer, status)

    def transaction_answer(transaction: dict[str, Any], ok: bool, status: int = 200) -> Answer:
        if ok:
            return status, transaction_document(transaction, state)
        return 422, declined_document(transaction, state)

    @app.get("/")
    def index() -> Response:
        with state.lock:
            count = len(state.transactions)
        page = (
            "<!doctype html><title>crm-pay development sandbox (not Braintree)</title>"
            "<h1>crm-pay development sandbox</h1><p>A development tool that imitates the "
            "Braintree gateway API for local demos and tests. It is not Braintree and moves "
            f"no money.</p><p>{count} transactions.</p>"
        )
        return Response(page, content_type="text/html; charset=utf-8")

    @app.post(f"{base}/client_token")
    def client_token(merchant_id: str) -> Response:
        body = params("client_token")
        # An unknown account is ClientToken.MerchantAccountDoesNotExist (92807); the SDK's
        # client_token_gateway.py raises ValueError with the error's message.
        requested = body.get("merchant_account_id")
        if requested and requested not in processor.merchant_accounts:
            raise fail(
                "92807",
                "merchant_account_id",
                "Merchant account does not exist.",
                ("client_token",),
            )
        account = str(requested or processor.default_merchant_account_id)
        token = make_client_token(
            settings.merchant_id, settings.private_key, merchant_account_id=account
        )
        return xml(encode("client_token", {"value": token}), 201)

    @app.post(f"{base}/transactions")
    def create_transaction(merchant_id: str) -> Response:
        body = params("transaction")
        return once("sale", body, lambda: transaction_answer(*processor.sale(body), status=201))

    @app.get(f"{base}/transactions/<transaction_id>")
    def find_transaction(merchant_id: str, transaction_id: str) -> Response:
        return xml(transaction_document(processor.find(transaction_id), state))

    @app.put(f"{base}/transactions/<transaction_id>/submit_for_settlement")
    def submit_for_settlement(merchant_id: str, transaction_id: str) -> Response:
        body = params("transaction")
        return once(
            f"submit_for_settlement:{transaction_id}",
            body,
            lambda: transaction_answer(
                processor.submit_for_settlement(transaction_id, body.get("amount")), True
            ),
        )

    @app.put(f"{base}/transactions/<transaction_id>/void")
    def void(merchant_id: str, transaction_id: str) -> Response:
        body = params("transaction")
        return once(
            f"void:{transaction_id}",
            body,
            lambda: transaction_answer(processor.void(transaction_id), True),
        )

    @app.post(f"{base}/transactions/<transaction_id>/refund")
    def refund(merchant_id: str, transaction_id: str) -> Response:
        body = params("transaction")
        return once(
            f"refund:{transaction_id}",
            body,
            lambda: transaction_answer(
                *processor.refund(transaction_id, body.get("amount")), status=201
            ),
        )

    # Sandbox-only testing endpoints (braintree_python braintree/testing_gateway.py).
    testing = {
        "settle": processor.settlement.settle,
        "settlement_confirm": processor.settlement.confirm,
        "settlement_decline": processor.settlement.decline,
        "settlement_pending": processor.settlement.pending,
    }

    @app.put(f"{base}/transactions/<transaction_id>/<action>")
    def simulate_settlement(merchant_id: str, transaction_id: str, action: str) -> Response:
        simulate = testing.get(action)
        if simulate is None:
            raise TransactionNotFound(action)
        return xml(transaction_document(simulate(transaction_id), state))

    @app.post(f"{base}/transactions/advanced_search_ids")
    def search_ids(merchant_id: str) -> Response:
        criteria = params("search")
        with state.lock:
            ids = matching_ids(state.transactions, criteria)
        return xml(search_ids_document(ids, PAGE_SIZE))

    @app.post(f"{base}/transactions/advanced_search")
    def search(merchant_id: str) -> Response:
        criteria = params("search")
        with state.lock:
            ids = matching_ids(state.transactions, criteria)[:PAGE_SIZE]
            found = [state.transactions[i] for i in ids]
            return xml(search_document(found, state))

    @app.post(f"{base}/settlement_batch_summary")
    def settlement_batch_summary(merchant_id: str) -> Response:
        body = params("settlement_batch_summary")
        records = processor.settlement.batch_summary(
            body.get("settlement_date"), body.get("group_by_custom_field")
        )
        return xml(encode("settlement_batch_summary", {"records": Items("record", records)}), 200)

    register_dispute_routes(app, base, processor.disputes, xml)

    @app.post(f"{base}/payment_methods")
    def vault_payment_method(merchant_id: str) -> Response:
        body = params("payment_method")
        nonce = body.get("payment_method_nonce") or ""
        record = processor.vault_nonce(nonce, body.get("customer_id"))
        return xml(_payment_method_document(record), 201)

    @app.get(f"{base}/payment_methods/any/<token>")
    def find_payment_method(merchant_id: str, token: str) -> Response:
        with state.lock:
            record = state.vault.get(token)
        if record is None:
            raise TransactionNotFound(token)
        return xml(_payment_method_document(record))

    @app.delete(f"{base}/payment_methods/any/<token>")
    def delete_payment_method(merchant_id: str, token: str) -> Response:
        # braintree_python payment_method_gateway.delete sends this DELETE and reads any
        # 2xx with an empty body as success; an unknown token is a 404 (NotFoundError).
        with state.lock:
            deleted = delete_from_vault(state, token)
        if not deleted:
            raise TransactionNotFound(token)
        return Response(b"", 200)

    return app


def _payment_method_document(record: dict[str, str]) -> bytes:
    """A vaulted card's ``<credit-card>``, or a vaulted wallet's own element."""
    wallet = vaulted_wallet_document(record)
    if wallet is not None:
        return encode(*wallet)
    return encode("credit_card", _vaulted_card(record))


def _vaulted_card(record: dict[str, str]) -> dict[str, Any]:
    return {
        "token": record["token"],
        "customer_id": record["customer_id"] or None,
        "bin": record["bin"],
        "last_4": record["last_4"],
        "card_type": record["card_type"],
        "expiration_month": record["expiration_month"],
        "expiration_year": record["expiration_year"],
        "default": True,
        "expired": False,
    }
