"""`crm-pay users list|deactivate|activate|set-role` and `crm-pay api-keys list|revoke`."""

from __future__ import annotations

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import select

from crm_pay.domain.errors import Unauthorized
from crm_pay.persistence.models import AuditEntry
from crm_pay.services.access import authenticate_user, create_api_key, create_user
from crm_pay.services.context import Context

PASSWORD = "correct horse battery"
CUSTOMER = "/pay/api/v1/customers/CUST-0001"


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["crm-pay", *args])


def _actions(ctx: Context) -> list[tuple[str, str, str]]:
    with ctx.db.transaction() as s:
        return [(a.actor, a.action, a.subject) for a in s.scalars(select(AuditEntry))]


@pytest.fixture
def people(ctx: Context) -> dict[str, int]:
    return {
        "admin": create_user(ctx, email="boss@example.com", role="admin", password=PASSWORD),
        "agent": create_user(ctx, email="ann@example.com", role="agent", password=PASSWORD),
    }


def test_api_keys_list_then_revoke(app: Flask, ctx: Context) -> None:
    key = create_api_key(ctx, name="ivr-bot", role="agent")
    client = app.test_client()
    assert client.get(CUSTOMER, headers={"Authorization": f"Bearer {key}"}).status_code == 200

    listed = run(app, "api-keys", "list")
    assert listed.exit_code == 0, listed.output
    assert "ivr-bot" in listed.output and "active" in listed.output
    assert key not in listed.output and key[:12] in listed.output  # the prefix, never the key
    assert "never used" not in listed.output  # it was used just now

    revoked = run(app, "api-keys", "revoke", "1")
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in revoked.output and "401" in revoked.output
    resp = client.get(CUSTOMER, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 401 and "revoked" in resp.get_json()["error"]["message"]
    assert "revoked" in run(app, "api-keys", "list").output
    assert ("cli", "api_key.revoked", "api_key:1") in _actions(ctx)


@pytest.mark.parametrize(
    ("key_id", "message"), [("1", "already revoked"), ("42", "no API key 42"), ("x", "x")]
)
def test_api_keys_revoke_refusals_exit_nonzero_with_a_clear_message(
    app: Flask, ctx: Context, key_id: str, message: str
) -> None:
    create_api_key(ctx, name="old", role="agent")
    assert run(app, "api-keys", "revoke", "1").exit_code == 0
    before = len(_actions(ctx))
    result = run(app, "api-keys", "revoke", key_id)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output
    assert len(_actions(ctx)) == before  # nothing recorded for a refusal


def test_users_list_deactivate_activate(app: Flask, ctx: Context, people: dict[str, int]) -> None:
    listed = run(app, "users", "list")
    assert listed.exit_code == 0
    assert "ann@example.com" in listed.output and "never signed in" in listed.output

    done = run(app, "users", "deactivate", "ANN@example.com")
    assert done.exit_code == 0, done.output
    assert "ann@example.com deactivated" in done.output
    assert "deactivated" in run(app, "users", "list").output
    with pytest.raises(Unauthorized):
        authenticate_user(ctx, "ann@example.com", PASSWORD)

    again = run(app, "users", "deactivate", "ann@example.com")
    assert again.exit_code == 1 and "already deactivated" in again.output

    back = run(app, "users", "activate", "ann@example.com")
    assert back.exit_code == 0 and "can sign in again" in back.output
    assert authenticate_user(ctx, "ann@example.com", PASSWORD).role == "agent"
    actions = [a[1] for a in _actions(ctx) if a[2] == f"user:{people['agent']}"]
    assert actions[-3:] == ["user.deactivated", "console_session.revoked_all", "user.reactivated"]


def test_users_set_role(app: Flask, ctx: Context, people: dict[str, int]) -> None:
    result = run(app, "users", "set-role", "ann@example.com", "supervisor")
    assert result.exit_code == 0, result.output
    assert "now supervisor" in result.output
    assert authenticate_user(ctx, "ann@example.com", PASSWORD).role == "supervisor"
    assert ("cli", "user.role_changed", f"user:{people['agent']}") in _actions(ctx)

    bad = run(app, "users", "set-role", "ann@example.com", "root")
    assert bad.exit_code != 0 and "root" in bad.output


def test_the_last_admin_cannot_be_deactivated_or_demoted(
    app: Flask, ctx: Context, people: dict[str, int]
) -> None:
    before = len(_actions(ctx))
    for args in (("deactivate", "boss@example.com"), ("set-role", "boss@example.com", "agent")):
        result = run(app, "users", *args)
        assert result.exit_code == 1, result.output
        assert "last active admin" in result.output and "another user admin" in result.output
    assert authenticate_user(ctx, "boss@example.com", PASSWORD).role == "admin"
    assert len(_actions(ctx)) == before

    # With a second admin, the first can go.
    assert run(app, "users", "set-role", "ann@example.com", "admin").exit_code == 0
    assert run(app, "users", "deactivate", "boss@example.com").exit_code == 0
    # ... and now ann is the last one.
    last = run(app, "users", "set-role", "ann@example.com", "agent")
    assert last.exit_code == 1 and "ann@example.com is the last active admin" in last.output


def test_unknown_user_is_a_clear_error(app: Flask, people: dict[str, int]) -> None:
    result = run(app, "users", "deactivate", "nobody@example.com")
    assert result.exit_code == 1
    assert "no user nobody@example.com" in result.output and "Traceback" not in result.output


def test_audit_list_shows_what_one_key_did(app: Flask, ctx: Context) -> None:
    """The leaked-key runbook: list everything a key did, and nothing anyone else did."""
    from paytest import create_link

    bot = create_api_key(ctx, name="ivr-bot", role="agent")
    other = create_api_key(ctx, name="web-shop", role="agent")
    client = app.test_client()
    _, mine = create_link(client, {"Authorization": f"Bearer {bot}"}, amount="12.00")
    _, theirs = create_link(client, {"Authorization": f"Bearer {other}"}, amount="13.00")

    listed = run(app, "audit", "list", "--actor", "api_key:1")
    assert listed.exit_code == 0, listed.output
    assert "payment.created" in listed.output and mine["id"] in listed.output
    assert theirs["id"] not in listed.output
    # api_key:1 must not match api_key:10 and up, nor the creation entries made by "cli".
    assert "api_key:2" not in listed.output

    assert run(app, "audit", "list", "--actor", "api_key:3").output.strip() == (
        "no audit entries match"
    )
    assert theirs["id"] in run(app, "audit", "list", "--since", "2000-01-01").output
    assert "no audit entries match" in run(app, "audit", "list", "--since", "2999-01-01").output


def test_audit_list_refuses_a_bad_date_clearly(app: Flask) -> None:
    result = run(app, "audit", "list", "--since", "last tuesday")
    assert result.exit_code != 0
    assert "not an ISO date" in result.output and "Traceback" not in result.output
