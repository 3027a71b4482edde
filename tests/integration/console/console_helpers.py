"""Helpers of the console tests (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from agent_ui.console_session import decode, encode
from paytest import csrf_of

# The sign-in helpers (login, csrf_of, PASSWORD) are tests/paytest.py's, the clock is
# crm_pay.testing's: imported from there, not from here.
__all__ = ["COOKIE", "console_cookie_of", "form_of", "set_console_cookie"]

#: crm-pay's own console cookie (never the host app's ``session``), scoped to ``/pay``.
COOKIE = "crm_pay_session"


def form_of(client: FlaskClient, crm_ref: str) -> dict[str, str]:
    """The hidden fields of the customer page's take-payment form."""
    html = client.get(f"/pay/agent/customers/{crm_ref}").text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert key
    return {"csrf_token": csrf_of(html), "idempotency_key": key.group(1)}


def console_cookie_of(client: FlaskClient) -> dict[str, Any]:
    """What crm-pay's console cookie in ``client`` holds (checked signature)."""
    cookie = client.get_cookie(COOKIE, path="/pay")
    assert cookie is not None, "no console cookie"
    with client.application.app_context():
        return decode(cookie.value)


def set_console_cookie(client: FlaskClient, data: dict[str, Any]) -> None:
    """Put a validly signed console cookie holding ``data`` into ``client``."""
    with client.application.app_context():
        value = encode(data)
    client.set_cookie(COOKIE, value, path="/pay")
