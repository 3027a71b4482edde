"""``crm-pay serve`` refuses what cannot work before it starts anything, and a server of
several processes accepts WebSocket connections only (no PostgreSQL, Redis or gunicorn
process needed: tests/integration/runtime/test_serve_multiprocess.py runs the real thing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_pay.app import create_app
from crm_pay.cli import cli
from crm_pay.cli_serve import ServeSettings, check_settings, websocket_only

POLL = "/pay/socket.io/?EIO=4&transport=polling"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRM_PAY_DEV_SECRETS", "true")
    monkeypatch.setenv("CRM_PAY_DATABASE_URL", f"sqlite:///{tmp_path / 'serve.sqlite3'}")
    monkeypatch.setenv("CRM_PAY_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("CRM_PAY_SOCKETIO_MESSAGE_QUEUE", raising=False)
    return tmp_path


def test_several_processes_without_a_message_queue_are_refused_with_what_to_set(
    env: Path,
) -> None:
    result = CliRunner().invoke(cli, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "--workers 2 needs CRM_PAY_SOCKETIO_MESSAGE_QUEUE" in result.output
    assert "or run with --workers 1" in result.output


def test_a_configuration_error_stops_serve_before_gunicorn_starts(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PAY_DEV_SECRETS", "false")
    result = CliRunner().invoke(cli, ["serve", "--workers", "1"])
    assert result.exit_code == 1
    assert "CRM_PAY_VAULT_KEYS" in result.output and "Starting gunicorn" not in result.output


def test_operators_are_warned_about_per_process_rate_limits_and_sqlite() -> None:
    settings = ServeSettings(
        workers=3,
        prefix="/pay",
        message_queue="redis://127.0.0.1:6379/0",
        rate_limit_storage="memory://",
        database_url="sqlite:///x.sqlite3",
    )
    warnings = check_settings(settings)
    assert any("CRM_PAY_RATE_LIMIT_STORAGE" in w and "3 processes" in w for w in warnings)
    assert any("PostgreSQL" in w for w in warnings)
    shared = ServeSettings(3, "/pay", "redis://r/0", "redis://r/1", "postgresql://db/x")
    assert check_settings(shared) == []
    assert check_settings(ServeSettings(1, "/pay", None, "memory://", "sqlite:///x")) == []


def test_a_multi_process_server_answers_polling_with_400_and_one_process_serves_it(
    env: Path,
) -> None:
    app = create_app()
    assert app.test_client().get(POLL).status_code == 200  # one process: polling works
    websocket_only(app)
    refused = app.test_client().get(POLL)
    assert refused.status_code == 400 and b"Invalid transport" in refused.data
