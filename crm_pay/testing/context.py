"""``fake_context``: a service :class:`~crm_pay.services.context.Context` on a migrated
database with fakes for every adapter, built without Flask or ``create_app`` (what the
fast service tests use). Each adapter can be replaced by the caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from crm_pay.persistence.db import Database
from crm_pay.persistence.migrate import upgrade
from crm_pay.services.context import Context, Settings
from vault import KeyRing

from .clock import Clock
from .crm import FakeCrm
from .gateway import FakeGateway
from .messaging import FakeMailer, FakeSms

__all__ = ["FakeWorld", "fake_context"]


@dataclass
class FakeWorld:
    """The context and the fakes behind it, typed, so tests reach them without casts."""

    ctx: Context
    clock: Clock
    psp: FakeGateway
    crm: FakeCrm
    email: FakeMailer
    sms: FakeSms

    def close(self) -> None:
        self.ctx.db.dispose()


def fake_context(
    db_url: str,
    *,
    clock: Clock | None = None,
    psp: FakeGateway | None = None,
    crm: FakeCrm | None = None,
    email: FakeMailer | None = None,
    sms: FakeSms | None = None,
    settings: Settings | None = None,
    migrate: bool = True,
) -> FakeWorld:
    """A context on ``db_url`` (migrated unless ``migrate`` is False) whose PSP, CRM,
    mailer, SMS sender and clock are fakes (``FakeCrm.with_customer()`` by default)."""
    clock = clock or Clock()
    psp = psp or FakeGateway(clock=clock)
    crm = crm if crm is not None else FakeCrm.with_customer()
    email = email or FakeMailer()
    sms = sms or FakeSms()
    db = Database(db_url)
    if migrate:
        upgrade(db)
    now: Callable[[], datetime] = clock
    ctx = Context(
        db=db,
        psp=psp,
        crm=crm,
        settings=settings
        or Settings(
            token_pepper=b"test-pepper-0123456789abcdef", audit_key=b"test-audit-key-0123456789"
        ),
        keyring=KeyRing.from_config(f"k1:{KeyRing.generate_key()}"),
        clock=now,
        email=email,
        sms=sms,
    )
    return FakeWorld(ctx=ctx, clock=clock, psp=psp, crm=crm, email=email, sms=sms)
