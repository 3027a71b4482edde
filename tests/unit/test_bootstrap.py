"""``bootstrap``: one function builds an app's context from its parsed configuration,
with the fakes a test hands in or the adapters the configuration names."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_pay.bootstrap import LazyAdapter, bootstrap
from crm_pay.config import CrmPayConfig
from crm_pay.domain.errors import ConfigurationError
from crm_pay.testing import Clock, FakeCrm, FakeGateway, FakeMailer, FakeSms
from vault import KeyRing

SECRETS = {
    "vault_keys": f"k1:{KeyRing.generate_key()}",
    "token_pepper": "pepper-0123456789abcdef",
    "audit_key": "audit-0123456789abcdef",
}


def test_injected_fakes_are_used_and_the_typed_fields_are_filled(tmp_path: Path) -> None:
    clock = Clock()
    psp, crm, email, sms = (
        FakeGateway(clock=clock),
        FakeCrm.with_customer(),
        FakeMailer(),
        FakeSms(),
    )
    config = CrmPayConfig(
        database_url=f"sqlite:///{tmp_path / 'b.sqlite3'}", merchant_name="Acme", **SECRETS
    )
    ctx = bootstrap(config, instance_path=None, psp=psp, crm=crm, email=email, sms=sms, clock=clock)
    try:
        assert (ctx.psp, ctx.crm, ctx.email, ctx.sms) == (psp, crm, email, sms)
        assert ctx.now() == clock.now
        assert ctx.config is config and ctx.settings.merchant.name == "Acme"
        assert ctx.settings.token_pepper == b"pepper-0123456789abcdef"
        assert "builtin" in ctx.crm_kinds and "hubspot" in ctx.launch_verifiers
        assert ctx.workers is None and ctx.live_queue is None
    finally:
        ctx.db.dispose()


def test_adapters_not_handed_in_are_built_on_first_use(tmp_path: Path) -> None:
    config = CrmPayConfig(psp="fake", **SECRETS)
    ctx = bootstrap(config, instance_path=str(tmp_path))
    try:
        assert isinstance(ctx.psp, LazyAdapter) and not ctx.psp.is_built
        assert isinstance(ctx.psp.wrapped_adapter, FakeGateway)
        # No CRM_PAY_DATABASE_URL: a SQLite file in the instance folder.
        assert ctx.db.engine.url.database == str(tmp_path / "crm_pay.sqlite3")
    finally:
        ctx.db.dispose()


def test_keypad_payments_are_set_up_from_the_twilio_settings(tmp_path: Path) -> None:
    from connectors.telephony.twilio import TwilioKeypadCapture
    from crm_pay.persistence.migrate import upgrade
    from crm_pay.services.secrets import put_secret

    without = bootstrap(CrmPayConfig(psp="fake", **SECRETS), instance_path=str(tmp_path))
    try:
        assert without.telephony is None  # no account: keypad payments are not offered
    finally:
        without.db.dispose()
    config = CrmPayConfig(psp="fake", twilio_account_sid="AC" + "0" * 32, **SECRETS)
    ctx = bootstrap(config, instance_path=str(tmp_path))
    try:
        assert isinstance(ctx.telephony, LazyAdapter) and not ctx.telephony.is_built
        upgrade(ctx.db)
        put_secret(ctx, "telephony.twilio.auth_token", "twilio-auth-token")
        assert isinstance(ctx.telephony.wrapped_adapter, TwilioKeypadCapture)
    finally:
        ctx.db.dispose()


def test_missing_secrets_are_named_with_how_to_make_them() -> None:
    with pytest.raises(ConfigurationError) as caught:
        bootstrap(CrmPayConfig(psp="fake", database_url="sqlite://"), instance_path=None)
    message = caught.value.message
    assert "CRM_PAY_VAULT_KEYS, CRM_PAY_TOKEN_PEPPER, CRM_PAY_AUDIT_KEY not set" in message
    assert "crm-pay vault new-key" in message


def test_dev_secrets_are_generated_once_into_the_instance_folder(tmp_path: Path) -> None:
    config = CrmPayConfig(psp="fake", dev_secrets=True)
    first = bootstrap(config, instance_path=str(tmp_path))
    again = bootstrap(config, instance_path=str(tmp_path))
    try:
        assert (tmp_path / "dev-secrets.json").stat().st_mode & 0o777 == 0o600
        assert first.settings.token_pepper == again.settings.token_pepper != b""
    finally:
        first.db.dispose()
        again.db.dispose()


def test_without_a_database_url_or_instance_folder_start_up_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match="set CRM_PAY_DATABASE_URL"):
        bootstrap(CrmPayConfig(psp="fake", **SECRETS), instance_path=None)
