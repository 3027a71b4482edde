"""Console and admin fixtures shared by every test directory (registered as a plugin by
tests/conftest.py): a user of each role, test clients signed in as them through the real
login form, a clock moved by hand, and further apps on the same database and sandbox.

They used to be written twice (tests/integration/console and tests/integration/admin);
a directory that needs something else under one of these names (tests/integration/live's
``users``) overrides it in its own conftest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from crm_pay.app import create_app
from crm_pay.current import get_context
from crm_pay.services import access
from crm_pay.services.access import create_user
from crm_pay.services.context import Context
from crm_pay.testing import Clock
from paytest import PASSWORD, login

#: The roles a user is made for by ``users``; each signs in as ``<role>@example.com``.
ROLES = ("agent", "supervisor", "admin")


@pytest.fixture
def clock(ctx: Context) -> Clock:
    """Installed as the context's clock: sessions, lock-outs and links follow it."""
    c = Clock()
    ctx.clock = c
    return c


@cache
def _hash_once(password: str) -> str:
    """A real (scrypt) hash of ``password``, computed once per test process."""
    return generate_password_hash(password)


@pytest.fixture
def users(ctx: Context) -> dict[str, int]:
    """User ids by name: one user per role, and a second agent (``agent2``) for the
    tests about what one agent may see of another's work.

    Hashing a password is slow on purpose (about 0.25 s each here): while these users
    are made, ``create_user`` gets the one real hash of :data:`PASSWORD` computed once
    per process instead of four new ones per test. Sign-in still checks it the real way,
    and users a test creates itself are hashed as in production."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(access, "generate_password_hash", _hash_once)
        made = {
            role: create_user(ctx, email=f"{role}@example.com", role=role, password=PASSWORD)
            for role in ROLES
        }
        made["agent2"] = create_user(
            ctx, email="agent2@example.com", role="agent", password=PASSWORD
        )
    return made


@pytest.fixture
def signed_in(app: Flask, users: dict[str, int]) -> Callable[..., FlaskClient]:
    """``signed_in("admin")``: a new test client signed in as ``<name>@example.com``."""

    def make(who: str = "agent") -> FlaskClient:
        client = app.test_client()
        resp = login(client, f"{who}@example.com")
        assert resp.status_code == 302, resp.text
        return client

    return make


@pytest.fixture
def agent(signed_in: Callable[..., FlaskClient]) -> FlaskClient:
    return signed_in("agent")


@pytest.fixture
def admin(signed_in: Callable[..., FlaskClient]) -> FlaskClient:
    return signed_in("admin")


@pytest.fixture
def make_app(
    app: Flask, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Flask]]:
    """``make_app(CRM_PAY_X=...)``: another app on the same database and sandbox as
    ``app``, with some settings changed (the database is already migrated)."""
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
