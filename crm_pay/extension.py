"""``CrmPay``: the Flask extension and the one wiring point of crm-pay."""

from __future__ import annotations

import logging

from flask import Flask

from agent_ui import register_ui
from crm_pay import rate_limits
from crm_pay.api import create_api_blueprint, create_webhook_blueprint
from crm_pay.api.errors import register_api_fallbacks
from crm_pay.api.metrics import init_metrics
from crm_pay.bootstrap import bootstrap
from crm_pay.cli import cli
from crm_pay.config import CrmPayConfig
from crm_pay.current import get_context
from crm_pay.http_headers import install_transport_headers
from crm_pay.logging_filters import install_log_redaction
from crm_pay.worker import BackgroundWorkers

__all__ = ["CrmPay", "get_context"]

log = logging.getLogger("crm_pay")


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
          (currency -> merchant account id, checked at start-up by ``bootstrap``), or
          one ``_MERCHANT_ACCOUNT_ID`` with its ``_CURRENCY`` (``USD``), ``_TIMEOUT``
          (20 s), ``_JS_SOURCE`` (``bundled``, ``cdn`` or ``stand-in``), ``_JS_VERSION``,
          ``_JS_INTEGRITY`` (with ``cdn``: Braintree's scripts and their SRI hashes).
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
        prefix = config.prefix
        # Adapters read the whole app.config: a third-party adapter's own keys reach it.
        ctx = bootstrap(config, instance_path=app.instance_path, adapter_settings=dict(app.config))
        app.extensions["crm_pay"] = ctx
        # One store of rate limits and sign-in delays for the console, pay page and API.
        rate_limits.install(app.extensions, config)

        app.register_blueprint(create_api_blueprint(), url_prefix=f"{prefix}/api/v1")
        register_api_fallbacks(app, f"{prefix}/api")
        app.register_blueprint(create_webhook_blueprint(), url_prefix=prefix)
        register_ui(app, prefix)
        init_metrics(app, ctx, prefix)  # {prefix}/metrics; times PSP and CRM calls
        # After the blueprints (their modules' loggers now exist): card numbers and link
        # tokens out of crm-pay's own loggers (never the host's, the root logger or the
        # record factory); HSTS & co on crm-pay's answers only.
        install_log_redaction(prefix)
        install_transport_headers(app, https=ctx.settings.public_url.startswith("https://"))

        if "crm-pay" not in app.cli.commands:
            app.cli.add_command(cli)

        if config.background_workers:
            workers = BackgroundWorkers(ctx)
            ctx.workers = workers
            workers.start()
