"""`crm-pay connectors enable` goes through the admin console's gate: a connector with no
passing Test connection for its settings is refused (nothing changes), one that passed
is enabled, and an override needs a reason, which the audit log keeps."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from crm_pay.domain.errors import ValidationError
from crm_pay.persistence.models import AuditEntry
from crm_pay.services import crm_settings
from crm_pay.services.context import Context


def _enabled(ctx: Context) -> list[str]:
    return [c["name"] for c in crm_settings.list_connectors(ctx) if c["enabled"]]


def test_the_cli_enables_only_a_tested_connector_or_with_an_audited_reason(
    app: Flask, ctx: Context
) -> None:
    runner = app.test_cli_runner()
    crm_settings.save_connector(ctx, name="demo-crm", kind="builtin", settings={}, actor="t")
    crm_settings.save_connector(ctx, name="other-crm", kind="builtin", settings={}, actor="t")

    untested = runner.invoke(args=["crm-pay", "connectors", "enable", "demo-crm"])
    short = runner.invoke(
        args=["crm-pay", "connectors", "enable", "demo-crm", "--override-reason", "because"]
    )

    assert untested.exit_code == 1 and "no passing Test connection" in untested.output
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    assert _enabled(ctx) == []

    assert runner.invoke(args=["crm-pay", "connectors", "test", "demo-crm"]).exit_code == 0
    tested = runner.invoke(args=["crm-pay", "connectors", "enable", "demo-crm"])
    assert tested.exit_code == 0, tested.output
    assert _enabled(ctx) == ["demo-crm"]

    reason = "migration night: the CRM sandbox is down"
    forced = runner.invoke(
        args=["crm-pay", "connectors", "enable", "other-crm", "--override-reason", reason]
    )
    assert forced.exit_code == 0, forced.output
    assert "reason audited" in forced.output
    assert _enabled(ctx) == ["other-crm"]  # one CRM at a time
    with ctx.db.transaction() as s:
        [entry] = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "connector.enable_override")
        )
        assert entry.actor == "cli" and entry.data["reason"] == reason


def test_a_save_after_the_test_closes_the_gate_again(ctx: Context) -> None:
    crm_settings.save_connector(ctx, name="demo-crm", kind="builtin", settings={}, actor="t")
    assert crm_settings.test_connector(ctx, "demo-crm").ok
    crm_settings.save_connector(ctx, name="demo-crm", kind="builtin", settings={}, actor="t")

    with pytest.raises(ValidationError) as refused:
        crm_settings.enable_connector(ctx, "demo-crm", actor="set-up code")

    assert refused.value.code == "connector_not_tested"
    assert _enabled(ctx) == []
