"""``crm-pay serve``: the production web server, gunicorn with WebSocket-capable workers.

Why this shape (docs/runbooks/production.md says the same to operators):

- **gunicorn's ``gthread`` worker, with simple-websocket.** crm-pay's Socket.IO server
  runs in ``async_mode="threading"`` (agent_ui.live_socket); python-engineio then upgrades a
  request to a WebSocket with simple-websocket, which takes the raw socket gunicorn puts
  in ``environ["gunicorn.socket"]`` and holds one thread of the worker for as long as the
  console is open. gevent or eventlet would hold sockets more cheaply, but only by
  monkey-patching the standard library before anything is imported, under psycopg,
  SQLAlchemy's pool, the braintree SDK's ``requests`` and our own threads (outbox
  dispatcher, socket sweep); one patch that misses blocks a whole process, and eventlet
  is no longer maintained. A contact center holds hundreds of consoles, not tens of
  thousands, so a thread per socket is affordable: size ``--threads`` for the consoles a
  process holds plus the requests it serves at once. The plain ``sync`` worker cannot
  hold a WebSocket at all (one request per process, cut at ``--timeout``).
- **WebSocket-only with several processes.** Socket.IO's long-polling sends each poll as
  a new HTTP request, and the session lives in the process that opened it; gunicorn hands
  every new connection to whichever worker accepts it first, and it cannot pin a client
  to a worker (no sticky sessions). So with ``--workers`` above 1 the Engine.IO server
  accepts the ``websocket`` transport only: a WebSocket is one connection, held by one
  process from the handshake to the end, and a polling client gets a clear 400
  ("Invalid transport") at once instead of "Invalid session" now and then. The console
  connects with the WebSocket first and falls back to polling, then to its JSON status
  URL (agent_ui/static/crm_pay/console.js). With ``--workers 1`` both transports work;
  several such single-process servers behind a proxy with sticky sessions serve clients
  that can only poll (docs/runbooks/production.md).
- **Redis between processes.** A payment is paid in one process while its agent's socket
  is held by another (or the event comes from a ``crm-pay worker``): every live event
  goes through ``CRM_PAY_SOCKETIO_MESSAGE_QUEUE``. Without it, ``--workers`` above 1 is
  refused before anything starts.
- **No link tokens in the access log.** gunicorn's access and error loggers get crm-pay's
  server log filters (:func:`crm_pay.logging_filters.install_server_log_filters`) in each
  worker before it serves: pay-link tokens, receipt-portal and launch links become
  ``[redacted]``, card numbers are masked, in the request line and the referrer alike.

- **Metrics summed over the processes.** A scrape of ``{prefix}/metrics`` reaches one
  worker, so each run gets a directory of prometheus-client's multiprocess files
  (:mod:`crm_pay.serve_metrics`): a fresh one under the system's temporary directory,
  removed when the server stops, or the operator's ``PROMETHEUS_MULTIPROC_DIR``, emptied
  of its ``*.db`` files at start (prometheus-client requires a clean directory per run)
  and left in place. It is set before the app is built, so every worker counts into it
  and whichever answers a scrape reports the sum; gunicorn's ``child_exit`` hook marks a
  worker that exits as dead (``multiprocess.mark_process_dead``), so its ``live*``
  gauges leave the sum while its counters stay counted.

The app is built once in the master to check the configuration (a wrong setting fails
here, with its message, instead of in every worker), then again in each worker after the
fork: no database connection, Redis client or thread is shared across a fork.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]
from prometheus_client import multiprocess
from werkzeug.utils import import_string

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.logging_filters import install_server_log_filters
from crm_pay.serve_metrics import summed_metrics

__all__ = ["ServeSettings", "check_settings", "serve", "websocket_only"]

#: The factory gunicorn's workers call (``--factory`` names another one).
DEFAULT_FACTORY = "crm_pay.app:create_app"
#: Socket.IO transports when one process serves (long-polling keeps its session there).
ALL_TRANSPORTS = ["polling", "websocket"]


def _default_workers() -> int:
    # Two at least: one process restarting (or busy in a slow PSP call) leaves another.
    return max(2, min(os.cpu_count() or 1, 8))


@dataclass(frozen=True)
class ServeSettings:
    """What ``crm-pay serve`` needs to know about the app before it forks workers."""

    workers: int
    prefix: str
    message_queue: str | None
    rate_limit_storage: str
    database_url: str


def settings_of(app: Flask, workers: int) -> ServeSettings:
    """The app's settings that decide whether ``workers`` processes can serve it.

    Read once, from the app the factory built (its configuration already parsed)."""
    ctx = get_context(app)
    return ServeSettings(
        workers=workers,
        prefix=ctx.config.prefix,
        message_queue=ctx.config.socketio_message_queue or None,
        rate_limit_storage=ctx.config.rate_limit_storage or "memory://",
        database_url=str(ctx.db.engine.url),
    )


def check_settings(settings: ServeSettings) -> list[str]:
    """Refuse a multi-process server that would break live status; return warnings
    for settings that work but that an operator should know about."""
    if settings.workers > 1 and not settings.message_queue:
        raise click.UsageError(
            f"--workers {settings.workers} needs CRM_PAY_SOCKETIO_MESSAGE_QUEUE (e.g. "
            "redis://redis.internal:6379/0): a payment paid in one process must reach the "
            "agent's socket held by another. Set it on every web and `crm-pay worker` "
            "process, or run with --workers 1."
        )
    warnings: list[str] = []
    if settings.workers > 1 and settings.rate_limit_storage.startswith("memory"):
        warnings.append(
            "CRM_PAY_RATE_LIMIT_STORAGE is in memory: each of the "
            f"{settings.workers} processes counts sign-ins and API calls on its own, so "
            "limits are that many times looser; set it to redis://..."
        )
    if settings.workers > 1 and settings.database_url.startswith("sqlite"):
        warnings.append(
            "SQLite with several processes: writes wait for each other's file lock; "
            "production runs on PostgreSQL (CRM_PAY_DATABASE_URL=postgresql://...)"
        )
    return warnings


def websocket_only(app: Flask) -> None:
    """Let the app's Engine.IO server accept WebSocket connections only.

    Several gunicorn workers share one listening socket and no request is pinned to a
    worker, so a long-polling session would be looked up in the wrong process; a
    polling request is answered 400 "Invalid transport" instead. ``transports`` is the
    server's documented option, set here on the built server because it depends on how
    the app is served, not on its configuration."""
    server = app.extensions["socketio"].server
    server.eio.transports = ["websocket"]


class _Server(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn run from code: our options, our factory, nothing read from sys.argv."""

    def __init__(
        self, options: dict[str, Any], factory: Callable[[], Flask], *, polling: bool
    ) -> None:
        self._options = options
        self._factory = factory
        self._polling = polling
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        app = self._factory()
        if not self._polling:
            websocket_only(app)
        return app


def _factory(path: str) -> Callable[[], Flask]:
    try:
        factory = import_string(path)
    except ImportError as exc:
        raise click.BadParameter(f"cannot import {path!r}: {exc}", param_hint="--factory") from exc
    if not callable(factory):
        raise click.BadParameter(f"{path!r} is not callable", param_hint="--factory")
    return factory  # type: ignore[no-any-return]


def _gunicorn_options(
    settings: ServeSettings,
    *,
    bind: tuple[str, ...],
    threads: int,
    timeout: int,
    graceful_timeout: int,
    keepalive: int,
    access_log: bool,
    log_level: str,
) -> dict[str, Any]:
    prefix = settings.prefix

    def post_worker_init(_worker: Any) -> None:
        # gunicorn configured its loggers in this process by now; the filters go on
        # before the first request is read.
        install_server_log_filters(prefix)

    def child_exit(_server: Any, worker: Any) -> None:
        # In the master, for a worker that exited (stopped, restarted or killed): its
        # live gauges leave the sum; its counters stay, they were counted.
        multiprocess.mark_process_dead(worker.pid)

    return {
        "bind": list(bind),
        "workers": settings.workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": timeout,
        "graceful_timeout": graceful_timeout,
        "keepalive": keepalive,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": log_level,
        "proc_name": "crm-pay",
        "post_worker_init": post_worker_init,
        "child_exit": child_exit,
        # gunicorn's runtime control socket (one fixed path per user by default: two
        # servers on a host would fight over it) is not part of crm-pay's operations.
        "control_socket_disable": True,
    }


@click.command("serve", help="Run the web app in production: gunicorn, several processes.")
@click.option(
    "--bind",
    "-b",
    multiple=True,
    default=["127.0.0.1:8000"],
    show_default=True,
    help="HOST:PORT (or unix:PATH) to listen on; repeatable.",
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    default=_default_workers,
    show_default="the CPU count, 2 to 8",
    help="Web processes. Above 1 needs CRM_PAY_SOCKETIO_MESSAGE_QUEUE.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=2),
    default=32,
    show_default=True,
    help="Threads per process: each open console holds one, each request one meanwhile.",
)
@click.option(
    "--timeout",
    type=click.IntRange(min=5),
    default=30,
    show_default=True,
    help="Seconds before a worker that stopped answering its master is restarted.",
)
@click.option(
    "--graceful-timeout",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Seconds a stopping worker finishes its requests; open sockets close then.",
)
@click.option(
    "--keepalive",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Seconds an idle HTTP connection stays open (behind a load balancer: longer "
    "than its idle timeout is wrong, shorter is fine).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="gunicorn's access log on stdout (link tokens and card numbers redacted).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error", "critical"]),
    default="info",
    show_default=True,
)
@click.option(
    "--factory",
    default=DEFAULT_FACTORY,
    show_default=True,
    help="module:callable building the Flask app (a host app that mounts CrmPay).",
)
def serve(
    bind: tuple[str, ...],
    workers: int,
    threads: int,
    timeout: int,
    graceful_timeout: int,
    keepalive: int,
    access_log: bool,
    log_level: str,
    factory: str,
) -> None:
    build = _factory(factory)
    with summed_metrics() as metrics_dir:
        _run(
            build,
            metrics_dir,
            bind=bind,
            workers=workers,
            threads=threads,
            timeout=timeout,
            graceful_timeout=graceful_timeout,
            keepalive=keepalive,
            access_log=access_log,
            log_level=log_level,
        )


def _run(
    build: Callable[[], Flask],
    metrics_dir: Path,
    *,
    bind: tuple[str, ...],
    workers: int,
    threads: int,
    timeout: int,
    graceful_timeout: int,
    keepalive: int,
    access_log: bool,
    log_level: str,
) -> None:
    try:
        app = build()
    except CrmPayError as exc:
        raise click.ClickException(exc.message) from exc
    settings = settings_of(app, workers)
    # The check's app must not leave pooled connections for the workers to inherit,
    # nor live gauges in the sum: the master serves nothing.
    get_context(app).db.dispose()
    multiprocess.mark_process_dead(os.getpid(), str(metrics_dir))
    for warning in check_settings(settings):
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    polling = workers == 1
    queue = settings.message_queue
    click.echo(
        f"crm-pay serve: {workers} process(es) x {threads} threads on {', '.join(bind)}; "
        f"Socket.IO {'polling and WebSocket' if polling else 'WebSocket only'}"
        + (f"; live status through {_queue_name(queue)}" if queue else "")
        + f"; metrics summed in {metrics_dir}",
        err=True,
    )
    options = _gunicorn_options(
        settings,
        bind=bind,
        threads=threads,
        timeout=timeout,
        graceful_timeout=graceful_timeout,
        keepalive=keepalive,
        access_log=access_log,
        log_level=log_level,
    )
    _Server(options, build, polling=polling).run()


def _queue_name(url: str) -> str:
    """The message queue's URL without its password, fit to print."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"
