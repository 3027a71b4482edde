"""Small helpers shared by the integration tests (importable: tests/ is on sys.path)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient

__all__ = ["create_link", "pay", "token_of"]


def create_link(
    client: FlaskClient,
    auth: dict[str, str],
    *,
    amount: str = "100.00",
    customer: str = "CUST-0001",
    key: str | None = None,
    **extra: Any,
) -> tuple[int, dict[str, Any]]:
    """POST /payments for a pay link; returns (status, json)."""
    body = {"customer": customer, "amount": amount, "currency": "USD", **extra}
    resp = client.post(
        "/pay/api/v1/payments",
        json=body,
        headers={**auth, "Idempotency-Key": key or uuid.uuid4().hex},
    )
    return resp.status_code, resp.get_json()


def token_of(pay_url: str) -> str:
    return pay_url.rsplit("/p/", 1)[1]


def pay(client: FlaskClient, pay_url: str, nonce: str = "fake-valid-nonce") -> Any:
    """What the hosted-fields form posts, asking for JSON."""
    return client.post(
        f"/pay/p/{token_of(pay_url)}/pay",
        data={"payment_method_nonce": nonce},
        headers={"Accept": "application/json"},
    )
