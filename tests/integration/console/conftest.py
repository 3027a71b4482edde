"""Console fixtures: users of each role, signed-in test clients, a movable clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from console_helpers import PASSWORD, Clock, login
from flask import Flask
from flask.testing import FlaskClient

from crm_pay.services.access import create_user
from crm_pay.services.context import Context


@pytest.fixture
def clock(ctx: Context) -> Clock:
    """Installed as the context's clock: sessions, lock-outs and links follow it."""
    c = Clock()
    ctx.clock = c
    return c


@pytest.fixture
def users(ctx: Context) -> dict[str, int]:
    return {
        role: create_user(ctx, email=f"{role}@example.com", role=role, password=PASSWORD)
        for role in ("agent", "supervisor", "admin")
    } | {"agent2": create_user(ctx, email="agent2@example.com", role="agent", password=PASSWORD)}


@pytest.fixture
def signed_in(app: Flask, users: dict[str, int]) -> Callable[[str], FlaskClient]:
    """A new test client signed in as ``<role>@example.com``."""

    def make(who: str = "agent") -> FlaskClient:
        client = app.test_client()
        resp = login(client, f"{who}@example.com")
        assert resp.status_code == 302, resp.text
        return client

    return make


@pytest.fixture
def agent(signed_in: Callable[[str], FlaskClient]) -> FlaskClient:
    return signed_in("agent")


@pytest.fixture
def make_app(
    app: Flask, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Flask]]:
    """Another app on the same database and sandbox, with some settings changed."""
    from crm_pay.app import create_app
    from crm_pay.current import get_context

    made: list[Flask] = []

    def make(**extra: Any) -> Flask:
        base = {k: v for k, v in app.config.items() if k.startswith("CRM_PAY_")}
        other = create_app(
            {**base, "TESTING": True, "SECRET_KEY": app.config["SECRET_KEY"], **extra},
            instance_path=str(tmp_path_factory.mktemp("instance")),
        )
        made.append(other)
        return other

    yield make
    for other in made:
        get_context(other).db.dispose()
