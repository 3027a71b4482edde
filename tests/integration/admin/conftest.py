"""Admin-console and launch fixtures: a user of each role and clients signed in as them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from admintest import PASSWORD, login
from flask import Flask
from flask.testing import FlaskClient

from crm_pay.services.access import create_user
from crm_pay.services.context import Context


@pytest.fixture
def users(ctx: Context) -> dict[str, int]:
    return {
        role: create_user(ctx, email=f"{role}@example.com", role=role, password=PASSWORD)
        for role in ("agent", "supervisor", "admin")
    }


@pytest.fixture
def signed_in(app: Flask, users: dict[str, int]) -> Callable[[str], FlaskClient]:
    """A new test client signed in as ``<role>@example.com``."""

    def make(who: str) -> FlaskClient:
        client = app.test_client()
        resp = login(client, f"{who}@example.com")
        assert resp.status_code == 302, resp.text
        return client

    return make


@pytest.fixture
def admin(signed_in: Callable[[str], FlaskClient]) -> FlaskClient:
    return signed_in("admin")


@pytest.fixture
def agent(signed_in: Callable[[str], FlaskClient]) -> FlaskClient:
    return signed_in("agent")
