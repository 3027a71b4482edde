"""Test doubles for crm-pay's ports, for crm-pay's own fast tests and for anyone writing
an adapter: an in-memory PSP (:class:`FakeGateway`), CRM (:class:`FakeCrm`), mailer and
SMS sender, a clock moved by hand, an outbox runner that drains through the real
dispatcher, and :func:`fake_context` tying them to a migrated database.

Importing this package needs no pytest; every fake records what it was asked."""

from __future__ import annotations

from .clock import Clock, EpochClock
from .context import FakeWorld, fake_context
from .crm import FakeCrm
from .gateway import FAKE_CARDS, FakeGateway
from .messaging import FakeMailer, FakeSms
from .outbox import OutboxRow, OutboxRunner

__all__ = [
    "FAKE_CARDS",
    "Clock",
    "EpochClock",
    "FakeCrm",
    "FakeGateway",
    "FakeMailer",
    "FakeSms",
    "FakeWorld",
    "OutboxRow",
    "OutboxRunner",
    "fake_context",
]
