"""crm-pay wired to the Braintree development sandbox over HTTP, in one place: the
integration tests' ``sandbox``/``app`` fixtures and the benchmarks all start the sandbox
and build the app through these functions, so the three of them cannot drift apart (the
app's Braintree credentials are read from the sandbox that is running, never retyped).

Unlike the rest of :mod:`crm_pay.testing` this module needs Flask and the sandbox
package; :mod:`crm_pay.testing` does not import it, so the fakes stay import-light."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask

from connectors.crm import DEMO_CARD_TOKENS
from connectors.psp.braintree_sandbox import SandboxConfig, SandboxServer
from crm_pay.app import create_app
from crm_pay.current import get_context
from crm_pay.persistence.migrate import upgrade

__all__ = [
    "SANDBOX_CREDENTIALS",
    "close_app",
    "sandbox_app",
    "sandbox_app_config",
    "start_app",
    "start_sandbox",
]

#: Credentials of the test sandbox (a development tool; not Braintree's).
SANDBOX_CREDENTIALS = {
    "merchant_id": "test_merchant",
    "public_key": "test_public",
    "private_key": "test_private",
}


def start_sandbox(*, demo_cards: bool = True, **config: Any) -> SandboxServer:
    """A running sandbox on free ports with :data:`SANDBOX_CREDENTIALS` (``config``
    overrides any :class:`SandboxConfig` field); with ``demo_cards`` the built-in CRM's
    demo card tokens are registered, so vaulted payments of the demo customers work."""
    server = SandboxServer(SandboxConfig(**{**SANDBOX_CREDENTIALS, **config}))
    server.start()
    if demo_cards:
        for token, card in DEMO_CARD_TOKENS.items():
            server.register_payment_method(token, card)
    return server


def sandbox_app_config(
    db_url: str, sandbox: SandboxServer, folder: Path, **extra: Any
) -> dict[str, Any]:
    """The app configuration pointed at ``sandbox`` and ``db_url``, with the built-in
    CRM's file in ``folder`` and development secrets; ``extra`` adds or overrides keys."""
    return {
        "TESTING": True,
        "CRM_PAY_DEV_SECRETS": True,
        "SECRET_KEY": "test-secret-key",
        "CRM_PAY_DATABASE_URL": db_url,
        "CRM_PAY_PUBLIC_URL": "http://shop.test",
        "CRM_PAY_BRAINTREE_ENVIRONMENT": "local",
        "CRM_PAY_BRAINTREE_GATEWAY_URL": sandbox.gateway_url,
        "CRM_PAY_BRAINTREE_ASSETS_URL": sandbox.assets_url,
        "CRM_PAY_BRAINTREE_MERCHANT_ID": sandbox.config.merchant_id,
        "CRM_PAY_BRAINTREE_PUBLIC_KEY": sandbox.config.public_key,
        "CRM_PAY_BRAINTREE_PRIVATE_KEY": sandbox.config.private_key,
        "CRM_PAY_BUILTIN_CRM_PATH": str(folder / "crm.json"),
        **extra,
    }


def start_app(config: dict[str, Any], instance_path: Path | str) -> Flask:
    """``create_app(config)`` with its database migrated to the newest revision."""
    app = create_app(config, instance_path=str(instance_path))
    upgrade(get_context(app).db)
    return app


def close_app(app: Flask) -> None:
    """Release what the app holds: its database pool and, when built, its PSP client."""
    ctx = get_context(app)
    ctx.db.dispose()
    ctx.psp.close()  # type: ignore[attr-defined]  # the lazy proxy's: closes only a built one


@contextmanager
def sandbox_app(
    db_url: str | None, folder: Path, *, sandbox: SandboxServer | None = None, **extra: Any
) -> Iterator[tuple[Flask, SandboxServer]]:
    """A migrated app on ``db_url`` (``None``: a SQLite file in ``folder``) wired to
    ``sandbox`` (``None``: a fresh one, stopped on the way out); the app is closed after."""
    own = sandbox is None
    server = start_sandbox() if sandbox is None else sandbox
    try:
        url = db_url or f"sqlite:///{folder / 'crm_pay.sqlite3'}"
        app = start_app(sandbox_app_config(url, server, folder, **extra), folder / "instance")
        try:
            yield app, server
        finally:
            close_app(app)
    finally:
        if own:
            server.stop()
