"""Helpers of the console tests (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

__all__ = ["PASSWORD", "Clock", "csrf_of", "login", "form_of"]

PASSWORD = "correct horse battery"


class Clock:
    """A clock the test moves by hand (installed as the context's clock)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF token"
    return found.group(1)


def login(
    client: FlaskClient, email: str, password: str = PASSWORD, *, ip: str = "127.0.0.1"
) -> TestResponse:
    """Sign in through the form, as a browser does (GET for the CSRF token, then POST)."""
    env = {"REMOTE_ADDR": ip}
    page = client.get("/pay/agent/login", environ_base=env)
    return client.post(
        "/pay/agent/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        environ_base=env,
    )


def form_of(client: FlaskClient, crm_ref: str) -> dict[str, str]:
    """The hidden fields of the customer page's take-payment form."""
    html = client.get(f"/pay/agent/customers/{crm_ref}").text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert key
    return {"csrf_token": csrf_of(html), "idempotency_key": key.group(1)}
