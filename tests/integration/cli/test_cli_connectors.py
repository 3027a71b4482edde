"""`crm-pay connectors list|test` give an admin plain answers."""

from __future__ import annotations

from flask import Flask

from crm_pay.services import crm_settings
from crm_pay.services.context import Context


def test_connectors_list_and_test(app: Flask, ctx: Context) -> None:
    runner = app.test_cli_runner()
    empty = runner.invoke(args=["crm-pay", "connectors", "list"])
    assert "no connectors configured" in empty.output
    crm_settings.save_connector(ctx, name="demo-crm", kind="builtin", settings={}, actor="t")
    crm_settings.enable_connector(
        ctx, "demo-crm", actor="t", override_reason="test set-up: enabled without a test"
    )
    tested = runner.invoke(args=["crm-pay", "connectors", "test", "demo-crm"])
    assert tested.exit_code == 0, tested.output
    assert "ok   storage" in tested.output
    listed = runner.invoke(args=["crm-pay", "connectors", "list"])
    assert "enabled  demo-crm" in listed.output and "test ok" in listed.output
    missing = runner.invoke(args=["crm-pay", "connectors", "test", "nope"])
    assert missing.exit_code == 1 and "no connector 'nope'" in missing.output
