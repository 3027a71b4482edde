"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL when
CRM_PAY_TEST_DATABASE_URL is set), the Braintree development sandbox over HTTP, the app
(both built by :mod:`crm_pay.testing.sandbox_app`, as the benchmarks build theirs); the
console users and signed-in clients come from the ``console_fixtures`` plugin."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.current import get_context
from crm_pay.persistence.db import Database
from crm_pay.persistence.migrate import upgrade
from crm_pay.services.context import Context
from crm_pay.testing.sandbox_app import close_app, start_app, start_sandbox
from paytest import app_config

# users, signed_in, agent, admin, clock, make_app: one definition for every directory.
pytest_plugins = ["console_fixtures"]

_PG_BASE_URL = os.environ.get("CRM_PAY_TEST_DATABASE_URL")
# Under pytest-xdist each worker (gw0, gw1...) has a database of its own, named after the
# configured one (``test`` -> ``test_gw0``), created on first use: the tests drop and
# recreate the public schema, which two workers must never do to one database.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
PG_URL = (
    str(make_url(_PG_BASE_URL).set(database=f"{make_url(_PG_BASE_URL).database}_{_XDIST_WORKER}"))
    if _PG_BASE_URL and _XDIST_WORKER
    else _PG_BASE_URL
)
_pg_ready: set[str] = set()


def _ensure_worker_database(url: str) -> None:
    """Create this xdist worker's database (once per process) from the configured one."""
    if url in _pg_ready or url == _PG_BASE_URL or _PG_BASE_URL is None:
        return
    from crm_pay.persistence.db import normalize_url

    name = make_url(url).database
    admin = create_engine(
        normalize_url(_PG_BASE_URL), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if found.first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    _pg_ready.add(url)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup``, tests that share one outside resource run on one xdist
    worker, one after another: Redis (fixed db numbers per module) and the browser (one
    chromium at a time on a 2-core machine)."""
    for item in items:
        for marker in ("redis", "browser"):
            if item.get_closest_marker(marker) is not None:
                item.add_marker(pytest.mark.xdist_group(marker))
                break


def _reset_postgres(url: str) -> None:
    from crm_pay.persistence.db import normalize_url

    _ensure_worker_database(url)
    # NullPool: the connection is closed when the block ends, not kept in a pool.
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(autouse=True)
def _restore_log_record_factory() -> Iterator[None]:
    """crm-pay never changes the log-record factory, but a test may (the host
    application of the embedding test has its own): give each test the one it started with."""
    import logging

    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    if PG_URL:
        _reset_postgres(PG_URL)
        return PG_URL
    return f"sqlite:///{tmp_path / 'crm_pay.sqlite3'}"


@pytest.fixture
def postgres_url() -> str:
    if not PG_URL:
        pytest.skip("needs PostgreSQL: set CRM_PAY_TEST_DATABASE_URL (CI does)")
    _reset_postgres(PG_URL)
    return PG_URL


def _started_sandbox() -> SandboxServer:
    return start_sandbox(timeout_fault_seconds=4.0)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    server = _started_sandbox()
    yield server
    server.stop()


@pytest.fixture
def own_sandbox() -> Iterator[SandboxServer]:
    """A sandbox of the test's own, for tests that read the PSP's whole day (the
    session's one holds other tests' sales). Use it by overriding ``sandbox``::

        @pytest.fixture
        def sandbox(own_sandbox): return own_sandbox
    """
    server = _started_sandbox()
    yield server
    server.stop()


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """Extra ``CRM_PAY_*`` settings of ``app``: a test module that needs other values
    overrides this fixture (the configuration is parsed once, when the app is built)."""
    return {}


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the newest revision once per test process: the ``app``
    fixture starts from a copy of it instead of running every migration again (the
    copy's ``upgrade`` then finds nothing to do). Tests of the migrations themselves
    use ``db_url`` or files of their own, which start empty as before."""
    path = tmp_path_factory.mktemp("migrated") / "template.sqlite3"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()  # the last connection closed: the WAL is checkpointed into the one file
    return path


@pytest.fixture
def app(
    db_url: str,
    sandbox: SandboxServer,
    tmp_path: Path,
    app_settings: dict[str, Any],
    _migrated_sqlite: Path,
) -> Iterator[Flask]:
    sqlite_file = Path(db_url.removeprefix("sqlite:///"))
    if db_url.startswith("sqlite:///") and not sqlite_file.exists():
        shutil.copyfile(_migrated_sqlite, sqlite_file)
    app = start_app(app_config(db_url, sandbox, tmp_path, **app_settings), tmp_path / "instance")
    yield app
    close_app(app)


@pytest.fixture
def ctx(app: Flask) -> Context:
    return get_context(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def api_key(ctx: Context) -> str:
    from crm_pay.services.access import create_api_key

    return create_api_key(ctx, name="tests", role="agent")


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


@pytest.fixture
def supervisor(ctx: Context) -> dict[str, str]:
    """API headers of a supervisor's key (refunds above the agent limit, resolutions)."""
    from crm_pay.services.access import create_api_key

    return {"Authorization": f"Bearer {create_api_key(ctx, name='sup', role='supervisor')}"}
