"""Small helpers shared by the integration tests (importable: tests/ is on sys.path)."""

from __future__ import annotations

import re
import socket
import struct
import uuid
import zlib
from typing import TYPE_CHECKING, Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crm_pay.testing.sandbox_app import SANDBOX_CREDENTIALS, sandbox_app_config

if TYPE_CHECKING:
    from pathlib import Path

    from connectors.psp.braintree_sandbox import SandboxServer

__all__ = [
    "Emitted",
    "PASSWORD",
    "SANDBOX",
    "app_config",
    "balance",
    "card_fragments",
    "create_link",
    "csrf_of",
    "free_pair",
    "free_port",
    "live_socket",
    "login",
    "paid",
    "pay",
    "refund",
    "token_of",
]

#: Credentials of the test sandbox (a development tool; not Braintree's).
SANDBOX = SANDBOX_CREDENTIALS


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


def paid(
    client: FlaskClient, auth: dict[str, str], amount: str = "60.00", **extra: Any
) -> dict[str, Any]:
    """A link payment for ``amount`` (``extra`` as for :func:`create_link`), paid with
    Braintree's ``fake-valid-nonce``; returns the payment as the API shows it."""
    _, created = create_link(client, auth, amount=amount, **extra)
    answer = pay(client, created["pay_url"])
    assert answer.status_code == 200, answer.get_json()
    return client.get(f"/pay/api/v1/payments/{created['id']}", headers=auth).get_json()


def refund(
    client: FlaskClient,
    headers: dict[str, str],
    payment_id: str,
    key: str | None = None,
    **body: Any,
) -> Any:
    """POST /payments/{id}/refund with ``body`` and an Idempotency-Key (new unless given)."""
    return client.post(
        f"/pay/api/v1/payments/{payment_id}/refund",
        json=body,
        headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


def balance(client: FlaskClient, auth: dict[str, str], ref: str = "CUST-0001") -> str:
    """The customer's balance as the API shows it."""
    return client.get(f"/pay/api/v1/customers/{ref}", headers=auth).get_json()["balance"]


def token_of(pay_url: str) -> str:
    return pay_url.rsplit("/p/", 1)[1]


def pay(client: FlaskClient, pay_url: str, nonce: str = "fake-valid-nonce") -> Any:
    """What the hosted-fields form posts, asking for JSON."""
    return client.post(
        f"/pay/p/{token_of(pay_url)}/pay",
        data={"payment_method_nonce": nonce},
        headers={"Accept": "application/json"},
    )


def app_config(db_url: str, sandbox: SandboxServer, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """The tests' app configuration: the sandbox app's (crm_pay.testing.sandbox_app) with
    a short PSP timeout and the test client's needs; ``extra`` adds or overrides keys."""
    test_settings: dict[str, Any] = {
        # 2 s: well above a sale on a loaded 2-core CI machine (xdist, chromium), well
        # below the sandbox's 4 s "timeout" fault (tests/conftest.py).
        "CRM_PAY_BRAINTREE_TIMEOUT": 2.0,
        # The test client speaks plain http; production keeps secure cookies on.
        "CRM_PAY_SECURE_COOKIES": False,
        # Tests not about MFA sign supervisors and admins in with a password only
        # (production default: "supervisor,admin"); tests/integration/console/
        # test_console_mfa.py turns it on.
        "CRM_PAY_MFA_REQUIRED_ROLES": "",
    }
    return sandbox_app_config(db_url, sandbox, tmp_path, **{**test_settings, **extra})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_pair() -> int:
    """A port P with P+1 free too (the sandbox's hosted-fields origin)."""
    for _ in range(50):
        p = free_port()
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", p))
                b.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
        return p
    raise RuntimeError("no free port pair")


def live_socket(client: FlaskClient, **kw: Any) -> Any:
    """A Socket.IO test client on ``/live`` opened with ``client``'s console cookie.

    flask-socketio's test client connects to ``/socket.io`` whatever the server's path
    is, while crm-pay's cookie is scoped to ``/pay`` (a browser sends it to
    ``/pay/socket.io``): the cookie is copied to ``/`` for the handshake only."""
    from agent_ui.live_socket import socketio

    cookie = client.get_cookie("crm_pay_session", path="/pay")
    if cookie is not None:
        client.set_cookie("crm_pay_session", cookie.value, path="/")
    try:
        return socketio.test_client(
            client.application, namespace="/live", flask_test_client=client, **kw
        )
    finally:
        if cookie is not None:
            client.delete_cookie("crm_pay_session", path="/")


#: The password the console and admin tests give the users they create.
PASSWORD = "correct horse battery"


def card_fragments(text: str, card: str) -> list[str]:
    """Every run of 5 or more digits in ``text`` (bounded by non-digits) that is part of
    ``card``: each holds a digit beyond the last 4. Whole runs, so that a number that
    only contains such digits (a timestamp's microseconds ``941111``) is not taken for
    the card."""
    return [run for run in re.findall(r"\d{5,}", text) if run in card]


def csrf_of(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF token"
    return found.group(1)


def login(
    client: FlaskClient,
    email: str,
    password: str = PASSWORD,
    *,
    ip: str | None = None,
    next_url: str | None = None,
) -> TestResponse:
    """Sign in through the form, as a browser does (GET for the CSRF token, then POST);
    from ``ip`` when given (else whatever the client's own ``environ_base`` says)."""
    env: dict[str, Any] = {"environ_base": {"REMOTE_ADDR": ip}} if ip else {}
    page = client.get("/pay/agent/login", **env)
    data = {"email": email, "password": password, "csrf_token": csrf_of(page.text)}
    if next_url:
        data["next"] = next_url
    return client.post("/pay/agent/login", data=data, **env)


def tiny_png(rgb: tuple[int, int, int] = (11, 92, 173)) -> bytes:
    """A real 2x2 PNG of one colour (signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + bytes(rgb) * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class Emitted:
    """A Socket.IO server as the live publisher sees it: keeps what it would send."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def emit(self, event: str, data: Any = None, *, to: str, namespace: str) -> None:
        if event == "payment_status":
            self.messages.append(data)
