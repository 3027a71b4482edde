"""``bootstrap``: the one function that turns a parsed configuration into a
:class:`~crm_pay.services.context.Context`.

It builds the database, the vault's key ring, the services' settings and the adapters
(lazily, or the fakes a test hands in), and fills the context's typed fields (CRM kinds,
launch verifiers). ``CrmPay.init_app`` calls it and then mounts the blueprints; the fast
service tests (``crm_pay.testing.fake_context``) call it with fakes and no Flask at all,
so both build their context the same way.
"""

from __future__ import annotations

import json
import os
import secrets as random_secrets
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from crm_pay import wiring
from crm_pay.config import CrmPayConfig
from crm_pay.domain.errors import ConfigurationError
from crm_pay.persistence.db import Database
from crm_pay.persistence.migrate import upgrade
from crm_pay.ports import CrmConnector, EmailSender, PaymentGateway, SmsSender
from crm_pay.services.context import Context, Settings
from crm_pay.services.secrets import get_secret
from vault import KeyRing

__all__ = ["LazyAdapter", "bootstrap"]

_SECRET_KEYS = ("CRM_PAY_VAULT_KEYS", "CRM_PAY_TOKEN_PEPPER", "CRM_PAY_AUDIT_KEY")


class LazyAdapter:
    """Builds an adapter on first use: the PSP's private key may live in the vault,
    which needs the database, which may not be migrated yet when the app starts."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._target: Any = None
        self._lock = threading.Lock()
        self._observer: wiring.CallObserver | None = None

    def observe_calls(self, observer: wiring.CallObserver | None) -> None:
        """Report every call of an adapter method through this proxy to ``observer``."""
        self._observer = observer

    def _get(self) -> Any:
        if self._target is None:
            with self._lock:
                if self._target is None:
                    self._target = self._build()
        return self._target

    @property
    def wrapped_adapter(self) -> Any:
        """The adapter itself (built now if needed), e.g. for capability checks."""
        return self._get()

    @property
    def is_built(self) -> bool:
        """Whether the adapter has been built (closing an unbuilt one builds nothing)."""
        return self._target is not None

    def refresh(self) -> None:
        """Forget the built adapter: the next use builds it again (a secret changed)."""
        with self._lock:
            self._target = None

    def close(self) -> None:
        """Close the built adapter, if any and if it can be closed, and forget it."""
        with self._lock:
            target, self._target = self._target, None
        closer = getattr(target, "close", None)
        if callable(closer):
            closer()

    def __getattr__(self, name: str) -> Any:
        target = self._get()
        return wiring.observed(target, name, getattr(target, name), self._observer)


def _dev_secrets(instance_path: str | None, *, create: bool) -> dict[str, str] | None:
    """Development/demo only: keys generated once into the instance folder (mode 0600)."""
    if instance_path is None:
        return None
    path = Path(instance_path) / "dev-secrets.json"
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        return data
    if not create:
        return None
    data = {
        "CRM_PAY_VAULT_KEYS": f"k1:{KeyRing.generate_key()}",
        "CRM_PAY_TOKEN_PEPPER": random_secrets.token_urlsafe(32),
        "CRM_PAY_AUDIT_KEY": random_secrets.token_urlsafe(32),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    return data


def _secrets(config: CrmPayConfig, instance_path: str | None) -> dict[str, str]:
    """The vault keys, token pepper and audit key: configured, or (development only)
    generated into the instance folder; a clear error when neither."""
    found = {
        "CRM_PAY_VAULT_KEYS": config.vault_keys,
        "CRM_PAY_TOKEN_PEPPER": config.token_pepper,
        "CRM_PAY_AUDIT_KEY": config.audit_key,
    }
    if all(found.values()):
        return {k: str(v) for k, v in found.items()}
    generated = _dev_secrets(instance_path, create=config.dev_secrets)
    if generated is None:
        missing = ", ".join(k for k, v in found.items() if not v)
        raise ConfigurationError(
            f"{missing} not set. Generate a vault key with `crm-pay vault new-key` and "
            "random 32-byte values for the pepper and audit key (docs/configuration.md);"
            " for development only, CRM_PAY_DEV_SECRETS=true generates them into "
            "the instance folder"
        )
    return {k: str(v or generated[k]) for k, v in found.items()}


def _database(config: CrmPayConfig, instance_path: str | None) -> Database:
    url = config.database_url
    if not url:
        if instance_path is None:
            raise ConfigurationError(
                "CRM_PAY_DATABASE_URL is not set and there is no instance folder to keep "
                "the default SQLite file in: set CRM_PAY_DATABASE_URL"
            )
        os.makedirs(instance_path, exist_ok=True)
        url = "sqlite:///" + os.path.join(instance_path, "crm_pay.sqlite3")
    return Database(url)


def bootstrap(
    config: CrmPayConfig,
    *,
    instance_path: str | None,
    psp: PaymentGateway | None = None,
    crm: CrmConnector | None = None,
    email: EmailSender | None = None,
    sms: SmsSender | None = None,
    clock: Callable[[], datetime] | None = None,
    adapter_settings: Mapping[str, Any] | None = None,
) -> Context:
    """The context of one app, from its parsed configuration.

    Adapters not handed in are chosen by name (``CRM_PAY_PSP`` & co,
    :mod:`crm_pay.wiring`) and built on first use; the CRM is the admin's enabled
    connector when there is one. ``adapter_settings`` is what adapter factories read
    (default: the configuration's keys; ``init_app`` passes the whole ``app.config``,
    so a third-party adapter's own keys reach it). ``instance_path`` holds the default
    database, the development secrets and the file adapters' folders; ``None`` only
    when none of those is needed (a test with fakes and a database URL).
    """
    found = _secrets(config, instance_path)
    db = _database(config, instance_path)
    if config.auto_migrate:
        upgrade(db)
    settings = Settings.from_config(
        config,
        token_pepper=found["CRM_PAY_TOKEN_PEPPER"].encode(),
        audit_key=found["CRM_PAY_AUDIT_KEY"].encode(),
    )
    if config.psp == "braintree" and psp is None:
        # Offline and cheap: a bad currency -> merchant account map fails the start,
        # not the first payment (the PSP itself is built on first use).
        wiring.braintree_merchant_accounts(config.as_mapping())
    ctx = Context(
        db=db,
        psp=psp,  # type: ignore[arg-type]  # set below when not injected
        crm=crm,  # type: ignore[arg-type]
        settings=settings,
        keyring=KeyRing.from_config(found["CRM_PAY_VAULT_KEYS"]),
        email=email,
        sms=sms,
        config=config,
    )
    if clock is not None:
        ctx.clock = clock
    mapping = dict(adapter_settings if adapter_settings is not None else config.as_mapping())
    folder = instance_path or ""

    def secret(name: str) -> str | None:
        return get_secret(ctx, name)

    if psp is None:
        ctx.psp = LazyAdapter(lambda: wiring.load_psp(mapping, instance_path=folder, secret=secret))
    if crm is None:
        ctx.crm = wiring.ActiveCrm(
            ctx, lambda: wiring.load_crm(mapping, instance_path=folder, secret=secret)
        )
    if email is None:
        ctx.email = LazyAdapter(
            lambda: wiring.load_email_sender(mapping, instance_path=folder, secret=secret)
        )
    if sms is None:
        ctx.sms = LazyAdapter(
            lambda: wiring.load_sms_sender(mapping, instance_path=folder, secret=secret)
        )
    if ctx.telephony is None and mapping.get("CRM_PAY_TWILIO_ACCOUNT_SID"):
        # keypad payments (Twilio agent-assisted Pay): built on first use, as its auth
        # token lives in the vault
        ctx.telephony = LazyAdapter(lambda: wiring.twilio_keypad(mapping, secret=secret))
    ctx.crm_kinds = wiring.crm_kinds(folder, mapping)
    ctx.launch_verifiers = wiring.launch_verifiers()
    # The pay page's script check fetches external scripts under the outbound policy.
    ctx.fetch_script = wiring.script_fetcher(mapping)
    return ctx
