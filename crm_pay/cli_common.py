"""What every ``crm-pay`` command module shares: the app a command runs in, its
context, and how a command reports a refused action.

Its own module so that ``crm_pay.cli``, ``crm_pay.cli_launch`` and ``crm_pay.cli_serve``
share these without importing one another's private names, and so that none of them
imports the standalone app factory: the app comes from Flask's ``ScriptInfo`` (``flask
crm-pay``, ``app.test_cli_runner()``, or the ``crm-pay`` program in
``crm_pay.cli_main``, which hands it ``crm_pay.create_app``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
from flask import Flask, current_app, has_app_context
from flask.cli import ScriptInfo

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.services.context import Context

__all__ = ["app_context", "command_context", "fail"]


@contextmanager
def app_context() -> Iterator[Flask]:
    """The app the command runs in, with its app context pushed."""
    if has_app_context():
        yield current_app._get_current_object()  # type: ignore[attr-defined]
        return
    click_ctx = click.get_current_context(silent=True)
    info = click_ctx.find_object(ScriptInfo) if click_ctx is not None else None
    if info is None or (info.create_app is None and not info.app_import_path):
        raise click.UsageError(
            "no app to run in: use the `crm-pay` program, `flask --app <host> crm-pay`, "
            "or app.test_cli_runner()"
        )
    app = info.load_app()
    with app.app_context():
        yield app


def command_context() -> Context:
    """The crm-pay context of the app the command runs in (inside :func:`app_context`)."""
    return get_context()


def fail(exc: CrmPayError) -> NoReturn:
    """Print what was refused, in red on stderr, and exit with status 1."""
    click.secho(f"error: {exc.message}", fg="red", err=True)
    sys.exit(1)
