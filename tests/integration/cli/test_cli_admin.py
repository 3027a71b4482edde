"""`crm-pay api-keys create`, `users create`, `db upgrade`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask

from crm_pay.current import get_context
from crm_pay.persistence.migrate import head_revision
from crm_pay.services.access import authenticate_user


def run(app: Flask, *args: str) -> Result:
    """``crm-pay ...`` through Flask's CLI runner, which targets this app."""
    return app.test_cli_runner().invoke(args=["crm-pay", *args])


def _works(app: Flask, key: str) -> bool:
    resp = app.test_client().get(
        "/pay/api/v1/customers/CUST-0001", headers={"Authorization": f"Bearer {key}"}
    )
    return resp.status_code == 200


def test_api_key_create_prints_a_working_key_last(app: Flask) -> None:
    result = run(app, "api-keys", "create", "--name", "ivr-bot", "--role", "agent")
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1].strip()
    assert key.startswith("cpk_") and " " not in key
    assert "ivr-bot" in result.output and "not shown again" in result.output
    assert _works(app, key)
    # Each create makes a new key.
    again = run(app, "api-keys", "create", "--name", "ivr-bot-2")
    assert again.exit_code == 0
    other = again.output.strip().splitlines()[-1].strip()
    assert other != key and key not in again.output
    assert _works(app, other)


def test_api_key_create_makes_a_telephony_key_that_only_reports_calls(app: Flask) -> None:
    result = run(app, "api-keys", "create", "--name", "pbx", "--role", "telephony")
    assert result.exit_code == 0, result.output
    assert "(telephony)" in result.output
    key = result.output.strip().splitlines()[-1].strip()
    refused = app.test_client().get(
        "/pay/api/v1/customers/CUST-0001", headers={"Authorization": f"Bearer {key}"}
    )
    assert refused.status_code == 403  # a valid key, but it may only report calls
    assert "telephony" in run(app, "api-keys", "create", "--help").output


def test_api_key_create_refuses_an_unknown_role(app: Flask) -> None:
    result = run(app, "api-keys", "create", "--name", "x", "--role", "root")
    assert result.exit_code != 0
    assert "root" in result.output


def test_users_create_then_duplicate(app: Flask) -> None:
    password = "correct horse battery"
    args = ("users", "create", "--email", "a@example.com", "--role", "agent")
    first = run(app, *args, "--password", password)
    assert first.exit_code == 0, first.output
    assert "a@example.com" in first.output
    assert authenticate_user(get_context(app), "A@example.com", password).role == "agent"

    dup = run(app, *args, "--password", "another long password")
    assert dup.exit_code != 0
    assert "already exists" in dup.output and "a@example.com" in dup.output
    assert "Traceback" not in dup.output
    # The same address in another case is the same user.
    dup_case = run(
        app,
        "users",
        "create",
        "--email",
        "A@Example.com",
        "--role",
        "admin",
        "--password",
        "another long password",
    )
    assert dup_case.exit_code != 0 and "already exists" in dup_case.output
    # The first user's password still works: the duplicate changed nothing.
    assert authenticate_user(get_context(app), "a@example.com", password).role == "agent"


def test_users_create_refuses_a_short_password(app: Flask) -> None:
    result = run(
        app,
        "users",
        "create",
        "--email",
        "b@example.com",
        "--role",
        "agent",
        "--password",
        "short",
    )
    assert result.exit_code == 1
    assert "12 characters" in result.output


def test_users_create_without_password_prints_a_random_one_that_works(app: Flask) -> None:
    result = run(app, "users", "create", "--email", "c@example.com", "--role", "supervisor")
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1].removeprefix("password:").strip()
    assert len(password) >= 12
    assert authenticate_user(get_context(app), "c@example.com", password).role == "supervisor"


def test_db_upgrade_prints_the_revision_and_is_idempotent(app: Flask) -> None:
    head = head_revision()
    assert head
    first = run(app, "db", "upgrade")
    second = run(app, "db", "upgrade")
    assert (first.exit_code, second.exit_code) == (0, 0), first.output + second.output
    assert head in first.output
    assert first.output == second.output
    assert app.test_client().get("/pay/healthz").status_code == 200


def test_cli_runner_targets_the_apps_own_database(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Keep the fallback app (if the bug is present) away from the working directory.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRM_PAY_INSTANCE_PATH", str(tmp_path / "elsewhere"))
    result = app.test_cli_runner().invoke(
        args=["crm-pay", "api-keys", "create", "--name", "no-context"]
    )
    assert result.exit_code == 0, result.output
    assert _works(app, result.output.strip().splitlines()[-1].strip())
