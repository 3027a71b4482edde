"""Fixtures of the fast service tests: a migrated SQLite file per test and a service
context whose adapters are the fakes of :mod:`crm_pay.testing` (no Flask, no HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_pay.services.context import Context
from crm_pay.testing import FakeWorld, OutboxRunner, fake_context


@pytest.fixture
def world(tmp_path: Path) -> Iterator[FakeWorld]:
    w = fake_context(f"sqlite:///{tmp_path / 'services.sqlite3'}")
    yield w
    w.close()


@pytest.fixture
def ctx(world: FakeWorld) -> Context:
    return world.ctx


@pytest.fixture
def outbox(world: FakeWorld) -> OutboxRunner:
    return OutboxRunner(world.ctx)
