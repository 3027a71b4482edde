"""Helpers of the admin and launch tests (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

__all__ = ["PASSWORD", "csrf_of", "login"]

PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF token"
    return found.group(1)


def login(client: FlaskClient, email: str, *, next_url: str | None = None) -> TestResponse:
    """Sign in through the form, as a browser does (GET for the CSRF token, then POST)."""
    page = client.get("/pay/agent/login")
    data = {"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)}
    if next_url:
        data["next"] = next_url
    return client.post("/pay/agent/login", data=data)
