"""``CrmPay``: the Flask extension and the one wiring point of crm-pay."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from flask import Flask

from agent_ui import register_ui
from crm_pay import rate_limits, wiring
from crm_pay.api import create_api_blueprint, create_webhook_blueprint
from crm_pay.api.errors import register_api_fallbacks
from crm_pay.cli import cli
from crm_pay.config import CrmPayConfig
from crm_pay.current import get_context
from crm_pay.domain.errors import ConfigurationError
from crm_pay.http_headers import install_transport_headers
from crm_pay.logging_filters import install_log_redaction
from crm_pay.persistence.db import Database
from crm_pay.persistence.migrate import upgrade
from crm_pay.services.context import Context, Settings
from crm_pay.services.secrets import get_secret
from crm_pay.worker import BackgroundWorkers
from vault import KeyRing

__all__ = ["CrmPay", "get_context"]

log = logging.getLogger("crm_pay")


class _LazyAdapter:
    """Builds an adapter on first use: the PSP's private key may live in the vault,
    which needs the database, which may not be migrated yet when the app starts."""

    def __init__(self, build: Any) -> None:
        self._build = build
        self._target: Any = None
        self._lock = threading.Lock()

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
        return getattr(self._get(), name)


def _dev_secrets(instance_path: str, *, create: bool) -> dict[str, str] | None:
    """Development/demo only: keys generated once into the instance folder (mode 0600)."""
    path = Path(instance_path) / "dev-secrets.json"
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        return data
    if not create:
        return None
    import secrets as _secrets

    data = {
        "CRM_PAY_VAULT_KEYS": f"k1:{KeyRing.generate_key()}",
        "CRM_PAY_TOKEN_PEPPER": _secrets.token_urlsafe(32),
        "CRM_PAY_AUDIT_KEY": _secrets.token_urlsafe(32),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    return data


class CrmPay:
    """The crm-pay Flask extension.

    ``CrmPay(app)`` or ``crm_pay.init_app(app)``. Per-app state lives in
    ``app.extensions["crm_pay"]`` (a :class:`~crm_pay.services.context.Context`); the
    extension object itself holds none, so one instance serves many apps.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read configuration, wire adapters and register blueprints.

        Every key is optional and has its type and default in
        :class:`crm_pay.config.CrmPayConfig` (parsed once here, errors say what to fix);
        docs/configuration.md gives each one's meaning and production advice. Keys are
        read from ``app.config`` only (``crm_pay.create_app`` also copies ``CRM_PAY_*``
        environment variables, typed by the same parser). The groups:

        - Core: ``CRM_PAY_DATABASE_URL`` (default a SQLite file in the instance folder;
          ``postgresql://`` URLs use psycopg 3), ``CRM_PAY_URL_PREFIX`` (``/pay``),
          ``CRM_PAY_PUBLIC_URL``, ``CRM_PAY_AUTO_MIGRATE`` (False), ``CRM_PAY_DEMO``
          (False; mounts the demo mailbox viewer).
        - PSP: ``CRM_PAY_PSP`` (``braintree``), ``CRM_PAY_BRAINTREE_ENVIRONMENT``
          (``local``), ``_GATEWAY_URL``, ``_ASSETS_URL``, ``_MERCHANT_ID``,
          ``_PUBLIC_KEY``, ``_PRIVATE_KEY`` (else the vault), ``_MERCHANT_ACCOUNTS``
          (currency -> merchant account id, checked here), or one ``_MERCHANT_ACCOUNT_ID``
          with its ``_CURRENCY`` (``USD``), ``_TIMEOUT`` (20 s), ``_JS_VERSION``,
          ``_JS_INTEGRITY`` (Braintree's own hosted-fields scripts and their SRI hashes).
        - CRM: ``CRM_PAY_CRM`` (``builtin``; the default while no admin-configured
          connector is enabled), ``CRM_PAY_BUILTIN_CRM_PATH``.
        - Vault and secrets: ``CRM_PAY_VAULT_KEYS``, ``CRM_PAY_TOKEN_PEPPER``,
          ``CRM_PAY_AUDIT_KEY``; generated into the instance folder only while
          ``CRM_PAY_DEV_SECRETS`` (False) is true, else start-up fails without them.
        - Pay links: ``CRM_PAY_PAY_LINK_TTL`` (900 s), ``CRM_PAY_PAY_LINK_MAX_ATTEMPTS`` (5).
        - Receipts and merchant: ``CRM_PAY_MERCHANT_NAME/ADDRESS/EMAIL/PHONE/TAX_ID``,
          ``CRM_PAY_RECEIPT_PREFIX`` (``R``, checked here), ``CRM_PAY_RECEIPT_LINK_TTL``
          (90 days).
        - Outbox and workers: ``CRM_PAY_OUTBOX_MAX_ATTEMPTS`` (10),
          ``CRM_PAY_BACKGROUND_WORKERS`` (False), ``CRM_PAY_UNKNOWN_WINDOW`` (1800 s
          before an ``unknown`` payment the PSP never saw fails), and
          ``CRM_PAY_SETTLEMENT_POLL_INTERVAL`` (600 s between settlement checks); both
          checked here.
        - Messaging: ``CRM_PAY_EMAIL_SENDER`` (``file``: ``CRM_PAY_MAILBOX_PATH``;
          ``smtp``: ``CRM_PAY_SMTP_HOST/PORT/USERNAME/PASSWORD/STARTTLS/SSL/TIMEOUT``),
          ``CRM_PAY_EMAIL_FROM``, ``CRM_PAY_SMS_SENDER`` (``file``:
          ``CRM_PAY_SMS_OUTBOX_PATH``).
        - Console sign-in and security: ``CRM_PAY_SECURE_COOKIES`` (True),
          ``CRM_PAY_SESSION_SAMESITE`` (``Lax``), ``CRM_PAY_SESSION_COOKIE_NAME``
          (``crm_pay_session``: crm-pay's own cookie, never the host's session),
          ``CRM_PAY_IDLE_TIMEOUT`` (900 s),
          ``CRM_PAY_FRAME_ANCESTORS`` (``'self'``), ``CRM_PAY_LOGIN_MAX_FAILURES`` (100),
          ``CRM_PAY_LOGIN_LOCK_SECONDS`` (900), the ``CRM_PAY_RATE_LIMIT_*``,
          ``CRM_PAY_LOGIN_*`` delay and ``CRM_PAY_API_RATE_LIMIT`` figures
          (docs/security/throttling.md), ``CRM_PAY_ALLOW_AGENT_KEYED`` (False).
        - Live status: ``CRM_PAY_SOCKETIO_MESSAGE_QUEUE`` (None, or ``redis://...``),
          ``CRM_PAY_SOCKETIO_CHANNEL``, ``CRM_PAY_SOCKETIO_CORS_ORIGINS``,
          ``CRM_PAY_LIVE_FIELD_EVENTS_PER_MINUTE`` (60).
        - Embedding in a CRM: ``CRM_PAY_SALESFORCE_CANVAS_SECRET/MAX_AGE/PARAMETER``,
          ``CRM_PAY_HUBSPOT_CLIENT_SECRET``, ``CRM_PAY_LAUNCH_SECRET``,
          ``CRM_PAY_LAUNCH_LINK_MINUTES`` (5).
        - Refunds: ``CRM_PAY_AGENT_REFUND_LIMIT`` (``"0"``: agents may not refund).
        """
        if "crm_pay" in app.extensions:
            raise RuntimeError("crm-pay is already registered on this app")
        # Parsed and checked once; the typed values go back into app.config so the host
        # app (and `flask crm-pay`) sees what crm-pay uses.
        config = CrmPayConfig.from_mapping(app.config)
        app.config.update(config.as_mapping())
        cfg = app.config
        prefix = config.prefix

        secrets = {
            k: cfg.get(k)
            for k in ("CRM_PAY_VAULT_KEYS", "CRM_PAY_TOKEN_PEPPER", "CRM_PAY_AUDIT_KEY")
        }
        if not all(secrets.values()):
            generated = _dev_secrets(app.instance_path, create=config.dev_secrets)
            if generated is None:
                missing = ", ".join(k for k, v in secrets.items() if not v)
                raise ConfigurationError(
                    f"{missing} not set. Generate a vault key with `crm-pay vault new-key` and "
                    "random 32-byte values for the pepper and audit key (docs/configuration.md);"
                    " for development only, CRM_PAY_DEV_SECRETS=true generates them into "
                    "the instance folder"
                )
            secrets = {k: v or generated[k] for k, v in secrets.items()}
        keyring = KeyRing.from_config(str(secrets["CRM_PAY_VAULT_KEYS"]))

        url = config.database_url
        if not url:
            os.makedirs(app.instance_path, exist_ok=True)
            url = "sqlite:///" + os.path.join(app.instance_path, "crm_pay.sqlite3")
        db = Database(url)
        if config.auto_migrate:
            upgrade(db)

        settings = Settings.from_config(
            config,
            token_pepper=str(secrets["CRM_PAY_TOKEN_PEPPER"]).encode(),
            audit_key=str(secrets["CRM_PAY_AUDIT_KEY"]).encode(),
        )
        ctx = Context(db=db, psp=None, crm=None, settings=settings, keyring=keyring, config=config)  # type: ignore[arg-type]

        mapping = dict(cfg)
        if config.psp == "braintree":
            # Offline and cheap: a bad currency -> merchant account map fails the start,
            # not the first payment (the PSP itself is built on first use).
            wiring.braintree_merchant_accounts(mapping)

        def secret(name: str) -> str | None:
            return get_secret(ctx, name)

        ctx.psp = _LazyAdapter(
            lambda: wiring.load_psp(mapping, instance_path=app.instance_path, secret=secret)
        )  # type: ignore[assignment]
        ctx.crm = wiring.ActiveCrm(  # type: ignore[assignment]
            ctx,
            lambda: wiring.load_crm(mapping, instance_path=app.instance_path, secret=secret),
        )
        ctx.extras["crm_kinds"] = wiring.crm_kinds(app.instance_path, mapping)
        ctx.extras["launch_verifiers"] = wiring.launch_verifiers()
        ctx.email = _LazyAdapter(
            lambda: wiring.load_email_sender(
                mapping, instance_path=app.instance_path, secret=secret
            )
        )  # type: ignore[assignment]
        ctx.sms = _LazyAdapter(
            lambda: wiring.load_sms_sender(mapping, instance_path=app.instance_path, secret=secret)
        )  # type: ignore[assignment]
        app.extensions["crm_pay"] = ctx
        # One store of rate limits and sign-in delays for the console, pay page and API.
        rate_limits.install(app.extensions, app.config)

        app.register_blueprint(create_api_blueprint(), url_prefix=f"{prefix}/api/v1")
        register_api_fallbacks(app, f"{prefix}/api")
        app.register_blueprint(create_webhook_blueprint(), url_prefix=prefix)
        register_ui(app, prefix)
        # After the blueprints (their modules' loggers now exist): card numbers and link
        # tokens out of crm-pay's own loggers (never the host's, the root logger or the
        # record factory); HSTS & co on crm-pay's answers only.
        install_log_redaction(prefix)
        install_transport_headers(app, https=settings.public_url.startswith("https://"))

        if "crm-pay" not in app.cli.commands:
            app.cli.add_command(cli)

        if config.background_workers:
            workers = BackgroundWorkers(ctx)
            ctx.extras["workers"] = workers
            workers.start()
