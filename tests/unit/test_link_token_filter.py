"""``LinkTokenFilter``: link tokens out of log records, the rest of each line kept."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from crm_pay.logging_filters import (
    REDACTED_TOKEN,
    LinkTokenFilter,
    install_link_token_filter,
    install_log_redaction,
    install_server_log_filters,
)
from vault import PanRedactingFilter

TOKEN = "Jqf_PaIdelCLutx39g7T8ifO26jZ_MgCoNfLd4fMmLE"
SIGNED = "eyJleHAiOjE4MDM5NDUwODJ9.TQ0dMmhMC_MQWWCqI4-x3kAq7QLNvAwP-A6832mpMyQ"
R = REDACTED_TOKEN


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f'"GET /pay/p/{TOKEN} HTTP/1.1" 200', f'"GET /pay/p/{R} HTTP/1.1" 200'),
        (f"POST /pay/p/{TOKEN}/pay", f"POST /pay/p/{R}/pay"),
        (f"GET /pay/p/{TOKEN}?x=1", f"GET /pay/p/{R}?x=1"),
        (f"https://shop.test/pay/p/{TOKEN}", f"https://shop.test/pay/p/{R}"),
        (f"GET /pay/r/{SIGNED}/R-2026-000001.pdf", f"GET /pay/r/{R}/R-2026-000001.pdf"),
        (f"GET /pay/agent/launch/link?t={SIGNED}", f"GET /pay/agent/launch/link?t={R}"),
        (
            f"GET /pay/agent/launch/link?x=1&t={SIGNED}&y=2",
            f"GET /pay/agent/launch/link?x=1&t={R}&y=2",
        ),
        # other pages and other apps' paths stay as they are
        ("GET /pay/agent/customers/CUST-0001", "GET /pay/agent/customers/CUST-0001"),
        (f"GET /shop/p/{TOKEN}", f"GET /shop/p/{TOKEN}"),
        ("no slash at all", "no slash at all"),
    ],
)
def test_redact(line: str, expected: str) -> None:
    assert LinkTokenFilter("/pay").redact(line) == expected


def test_another_prefix_and_an_empty_one() -> None:
    f = LinkTokenFilter("/billing/")
    assert f.redact(f"/billing/p/{TOKEN}") == f"/billing/p/{R}"
    f.add_prefix("")
    assert f.redact(f"/p/{TOKEN}") == f"/p/{R}"


def _record(msg: str, args: object) -> logging.LogRecord:
    return logging.LogRecord("werkzeug", logging.INFO, __file__, 1, msg, args, None)  # type: ignore[arg-type]


def test_a_record_is_rewritten_not_dropped() -> None:
    record = _record('%s - - "%s" %s', ("127.0.0.1", f"GET /pay/p/{TOKEN} HTTP/1.1", "200"))
    assert LinkTokenFilter("/pay").filter(record) is True
    assert record.getMessage() == f'127.0.0.1 - - "GET /pay/p/{R} HTTP/1.1" 200'
    assert record.args is None


def test_gunicorn_dict_atoms() -> None:
    # gunicorn/glogging.py Logger.access: access_log_format % a dict of atoms
    record = _record('%(h)s "%(r)s"', {"h": "203.0.113.9", "r": f"GET /pay/p/{TOKEN}"})
    LinkTokenFilter("/pay").filter(record)
    assert record.getMessage() == f'203.0.113.9 "GET /pay/p/{R}"'


def test_a_record_without_tokens_is_left_as_it_was() -> None:
    record = _record("%s paid", ("pay_123",))
    LinkTokenFilter("/pay").filter(record)
    assert record.msg == "%s paid" and record.args == ("pay_123",)


def test_a_broken_format_string_never_makes_the_log_call_raise() -> None:
    record = _record("%d items", ("not a number",))
    assert LinkTokenFilter("/pay").filter(record) is True


def test_a_cached_rendering_and_a_traceback_are_redacted() -> None:
    record = _record("x", None)
    record.message = f"/pay/p/{TOKEN}"
    record.exc_text = f'File "x", in view\n  url = "/pay/p/{TOKEN}"'
    LinkTokenFilter("/pay").filter(record)
    assert TOKEN not in record.message and TOKEN not in record.exc_text


@pytest.fixture
def fresh_loggers() -> Iterator[None]:
    names = ("crm_pay", "crm_pay.unit_test_child", "werkzeug", "gunicorn.access", "host.app")
    saved = {n: list(logging.getLogger(n).filters) for n in names}
    for n in names:  # start clean: another test may have started a server before
        logging.getLogger(n).filters[:] = []
    yield
    for n, filters in saved.items():
        logging.getLogger(n).filters[:] = filters


@pytest.mark.usefixtures("fresh_loggers")
def test_install_covers_our_loggers_only() -> None:
    child = logging.getLogger("crm_pay.unit_test_child")
    host = logging.getLogger("host.app")
    first = install_link_token_filter("/pay")
    again = install_link_token_filter("/other")
    assert first is again  # installed twice: one filter, both prefixes
    assert first.prefixes >= {"/pay", "/other"}
    for name in ("crm_pay", "crm_pay.unit_test_child"):
        filters = [f for f in logging.getLogger(name).filters if f is first]
        assert len(filters) == 1, name
    assert first in child.filters
    # the servers' request loggers belong to whoever starts the server
    for name in ("host.app", "werkzeug", "gunicorn.access", ""):
        assert first not in logging.getLogger(name).filters, name
    assert not any(isinstance(f, LinkTokenFilter) for f in host.filters)


@pytest.mark.usefixtures("fresh_loggers")
def test_code_that_starts_a_server_covers_its_request_loggers() -> None:
    install_server_log_filters("/pay")
    for name in ("werkzeug", "gunicorn.access"):
        assert any(isinstance(f, LinkTokenFilter) for f in logging.getLogger(name).filters)
        assert any(isinstance(f, PanRedactingFilter) for f in logging.getLogger(name).filters)
    assert not any(isinstance(f, LinkTokenFilter) for f in logging.getLogger("host.app").filters)


def test_a_handler_shared_with_the_host_is_left_alone() -> None:
    """A host that attaches one handler to the root logger and to ``crm_pay`` (pytest's
    log capture does exactly that) keeps its own records as they were, while crm-pay's
    records reaching that handler are still redacted by crm-pay's logger filter."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    shared, own_only = Keep(), Keep()
    ours = logging.getLogger("crm_pay")
    saved = (list(ours.filters), ours.propagate)
    logging.root.addHandler(shared)
    ours.addHandler(shared)
    ours.addHandler(own_only)
    ours.propagate = False  # the shared handler would otherwise see our records twice
    try:
        install_log_redaction("/pay")
        assert not shared.filters  # the host's handler is not ours to change
        assert any(isinstance(f, PanRedactingFilter) for f in own_only.filters)
        logging.getLogger("host.app").warning("host line GET /pay/p/%s", TOKEN)
        ours.warning("card 4111 1111 1111 1111 on GET /pay/p/%s", TOKEN)
    finally:
        logging.root.removeHandler(shared)
        ours.removeHandler(shared)
        ours.removeHandler(own_only)
        ours.filters[:], ours.propagate = saved
    host_lines = [r.getMessage() for r in records if r.name == "host.app"]
    our_lines = [r.getMessage() for r in records if r.name == "crm_pay"]
    assert host_lines == [f"host line GET /pay/p/{TOKEN}"]  # untouched
    assert len(our_lines) == 2 and all(TOKEN not in m and "4111" not in m for m in our_lines)
