"""``fake_context``: a service :class:`~crm_pay.services.context.Context` on a migrated
database with fakes for every adapter, built without Flask or ``create_app`` (what the
fast service tests use). Each adapter can be replaced by the caller."""

from __future__ import annotations

from dataclasses import dataclass

from crm_pay.bootstrap import bootstrap
from crm_pay.config import CrmPayConfig
from crm_pay.services.context import Context, Settings
from vault import KeyRing

from .clock import Clock
from .crm import FakeCrm
from .gateway import FakeGateway
from .messaging import FakeMailer, FakeSms

__all__ = ["FakeWorld", "fake_context"]

_TEST_PEPPER = "test-pepper-0123456789abcdef"
_TEST_AUDIT_KEY = "test-audit-key-0123456789"


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
    mailer, SMS sender and clock are fakes (``FakeCrm.with_customer()`` by default).

    Built by :func:`crm_pay.bootstrap.bootstrap`, as an app's is, from a default
    configuration with test secrets; ``settings`` replaces the services' settings."""
    clock = clock or Clock()
    psp = psp or FakeGateway(clock=clock)
    crm = crm if crm is not None else FakeCrm.with_customer()
    email = email or FakeMailer()
    sms = sms or FakeSms()
    ctx = bootstrap(
        CrmPayConfig(
            database_url=db_url,
            auto_migrate=migrate,
            vault_keys=f"k1:{KeyRing.generate_key()}",
            token_pepper=_TEST_PEPPER,
            audit_key=_TEST_AUDIT_KEY,
        ),
        instance_path=None,
        psp=psp,
        crm=crm,
        email=email,
        sms=sms,
        clock=clock,
    )
    if settings is not None:
        ctx.settings = settings
    return FakeWorld(ctx=ctx, clock=clock, psp=psp, crm=crm, email=email, sms=sms)
