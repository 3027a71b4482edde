"""Secret URL parts out of the logs: pay-link tokens, receipts-portal links, launch links.

The database keeps only hashes of pay-link tokens, and portal and launch links are
bearer credentials until they expire; an access log line like ``GET /pay/p/<token>``
would hand them to whoever reads the logs. :class:`LinkTokenFilter` rewrites such
records, keeping the shape of the URL so a log still says which page was asked for:

- ``{prefix}/p/<token>...`` (the customer pay page and its POSTs),
- ``{prefix}/r/<signed>...`` (the receipts portal; a receipt number after it stays),
- ``{prefix}/agent/launch/link?t=<signed>`` (launch links made for a CRM).

:func:`install_log_redaction` (called by ``CrmPay.init_app``) puts it, with the PAN
filter of :mod:`vault.pan`, only on loggers crm-pay owns: ``crm_pay``, ``agent_ui``,
``connectors``, ``vault``, the ``braintree`` SDK it brings, and their children. The
host application's loggers, the root logger, their handlers and the process's
log-record factory are never touched. The request loggers of WSGI servers
(``werkzeug``; gunicorn's ``gunicorn.access`` and ``gunicorn.error``) belong to whoever
runs the server: :func:`install_server_log_filters` is for the code that starts one
(``crm-pay demo`` redacts its own request lines, see ``crm_pay.demo``; a gunicorn
config calls it in ``post_worker_init``), never for ``init_app``.
"""

from __future__ import annotations

import logging
import re

from vault import install_pan_filter

__all__ = [
    "OWN_NAMESPACES",
    "REDACTED_TOKEN",
    "SERVER_LOGGERS",
    "LinkTokenFilter",
    "install_link_token_filter",
    "install_log_redaction",
    "install_server_log_filters",
]

REDACTED_TOKEN = "[redacted]"  # noqa: S105 - the placeholder, not a secret

# Request loggers of the servers that run crm-pay: werkzeug's request log
# (werkzeug/_internal.py ``_log``) and gunicorn's access and error logs
# (gunicorn/glogging.py ``Logger.access_log`` / ``error_log``).
SERVER_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")
# Our own namespaces: every existing logger below them gets the filter too, because a
# filter on a parent logger never sees records logged on its children.
OWN_NAMESPACES = ("crm_pay", "agent_ui", "connectors", "vault", "braintree")

# A path segment or query value ends at these; a token never contains them.
_VALUE = r"[^/?#&\s\"'<>]+"


def _patterns(prefix: str) -> list[re.Pattern[str]]:
    root = re.escape(prefix.rstrip("/"))
    return [
        re.compile(rf"({root}/[pr]/){_VALUE}"),
        re.compile(rf"({root}/agent/launch/link\?(?:[^#\s\"'<>]*&)?t=){_VALUE}"),
    ]


class LinkTokenFilter(logging.Filter):
    """Rewrites records whose message holds a link token; never drops a record.

    Like ``vault.pan.PanRedactingFilter``: when the rendered message changes, it becomes
    ``record.msg`` and ``record.args`` is cleared (gunicorn passes its access-log atoms
    as a dict of args; werkzeug the request line as an arg)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()  # no name: a named filter would drop other loggers' records
        self.prefixes: set[str] = set()
        self._compiled: list[re.Pattern[str]] = []
        self.add_prefix(prefix)

    def add_prefix(self, prefix: str) -> None:
        """Also redact links under ``prefix`` (several apps in one process)."""
        prefix = prefix.rstrip("/")
        if prefix not in self.prefixes:
            self.prefixes.add(prefix)
            self._compiled.extend(_patterns(prefix))

    def redact(self, text: str) -> str:
        """``text`` with every link token replaced by :data:`REDACTED_TOKEN`."""
        if "/" not in text:
            return text
        for pattern in self._compiled:
            text = pattern.sub(rf"\g<1>{REDACTED_TOKEN}", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a filter must never make a log call raise
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        cached = record.__dict__.get("message")
        if isinstance(cached, str):
            record.message = self.redact(cached)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def _owned_loggers() -> list[logging.Logger]:
    names = [
        name
        for name in logging.root.manager.loggerDict
        if any(name == ns or name.startswith(ns + ".") for ns in OWN_NAMESPACES)
    ]
    return [logging.getLogger(name) for name in dict.fromkeys((*OWN_NAMESPACES, *names))]


def _foreign_handlers() -> set[int]:
    """Ids of the handlers attached to the root logger or to any logger crm-pay does not own."""
    loggers: list[logging.Logger] = [logging.root]
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and not any(
            name == ns or name.startswith(ns + ".") for ns in OWN_NAMESPACES
        ):
            loggers.append(logger)
    return {id(handler) for logger in loggers for handler in logger.handlers}


def _server_loggers() -> list[logging.Logger]:
    return [logging.getLogger(name) for name in SERVER_LOGGERS]


# One filter for the whole process, shared by every app's prefixes.
_TOKEN_FILTER: LinkTokenFilter | None = None


def _token_filter(prefix: str) -> LinkTokenFilter:
    global _TOKEN_FILTER
    if _TOKEN_FILTER is None:
        _TOKEN_FILTER = LinkTokenFilter(prefix)
    _TOKEN_FILTER.add_prefix(prefix)
    return _TOKEN_FILTER


def install_link_token_filter(prefix: str, *, servers: bool = False) -> LinkTokenFilter:
    """Attach one :class:`LinkTokenFilter` for ``prefix`` to crm-pay's own loggers (and,
    with ``servers``, to the WSGI servers' request loggers). Calling it again (another
    app, loggers created since) reuses the filter and covers the new loggers."""
    token_filter = _token_filter(prefix)
    for logger in [*_owned_loggers(), *(_server_loggers() if servers else [])]:
        if token_filter not in logger.filters:
            logger.addFilter(token_filter)
    return token_filter


def install_log_redaction(prefix: str) -> None:
    """PAN and link-token redaction on every logger crm-pay owns (and the handlers
    attached only to them); nothing else of the process's logging changes. Loggers are
    filtered one by one because a logger's filters never see its children's records.

    A handler that is also attached to a logger crm-pay does not own (the root logger, a
    host application's logger) is left alone: filtering it would rewrite the host's own
    records. crm-pay's records reaching it are already redacted by their logger's filter."""
    install_link_token_filter(prefix)
    shared = _foreign_handlers()
    for logger in _owned_loggers():
        install_pan_filter(logger, handler_allowed=lambda handler: id(handler) not in shared)


def install_server_log_filters(prefix: str) -> None:
    """PAN and link-token redaction on the request loggers of the WSGI servers
    (``werkzeug``, ``gunicorn.access``, ``gunicorn.error``). For the code that starts a
    server for crm-pay, e.g. a gunicorn config's ``post_worker_init`` hook."""
    install_link_token_filter(prefix, servers=True)
    for logger in _server_loggers():
        install_pan_filter(logger)
