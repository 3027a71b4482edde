"""Helpers for the live-status tests: console users, payments they own, watching."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from flask_socketio import SocketIOTestClient

from crm_pay.services.access import Principal, create_user
from crm_pay.services.context import Context
from crm_pay.services.payments import CreatePayment, create_payment

__all__ = ["HEADER", "Users", "new_payment", "watch", "statuses"]

#: Test-only header naming the console user of a socket (read by the stand-in).
HEADER = "X-Test-Console-User"


class Users:
    """Console users by key; ``principal_for_request`` is what the stand-in reads."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.by_key: dict[str, Principal] = {}

    def add(self, key: str, role: str) -> Principal:
        email = f"{key}@example.com"
        user_id = create_user(self.ctx, email=email, role=role, password="a-long-test-password")
        principal = Principal("user", user_id, email, role)
        self.by_key[key] = principal
        return principal

    def principal_for_request(self) -> Principal | None:
        return self.by_key.get(request.headers.get(HEADER, ""))


def new_payment(ctx: Context, principal: Principal, amount: str = "40.00") -> dict[str, Any]:
    """A pay-link payment created by ``principal`` (as the console would)."""
    view, _ = create_payment(
        ctx,
        CreatePayment(crm_ref="CUST-0001", amount=amount, currency="USD"),
        actor=principal.actor,
        idempotency_scope=principal.actor,
        idempotency_key=uuid.uuid4().hex,
        request_hash=uuid.uuid4().hex,
    )
    return view


def watch(sc: SocketIOTestClient, payment_id: Any) -> Any:
    return sc.emit("watch", {"payment_id": payment_id}, namespace="/live", callback=True)


def statuses(sc: SocketIOTestClient) -> list[dict[str, Any]]:
    """Every ``payment_status`` event the client received since the last call."""
    return [m["args"][0] for m in sc.get_received("/live") if m["name"] == "payment_status"]
