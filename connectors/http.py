"""Small HTTP helpers shared by the connectors (CRM, PSP, messaging).

Every connector that talks HTTP needs the same three things, and each used to write them
its own way (five Retry-After parsers that disagreed on HTTP dates and on nonsense
values):

- :func:`parse_retry_after` / :func:`retry_after`: the delay a service asks for, from a
  ``Retry-After`` header in either form RFC 9110 allows (whole seconds or an HTTP date),
  clamped to a day so one bad header cannot park an outbox message for weeks;
- :func:`timeout_setting`: an admin-entered timeout, validated with an error that says
  which range is allowed;
- error text that says which service failed at which call, with the HTTP status and the
  service's own words (:func:`answer_excerpt`), but never a secret or card data: the
  text of a ``requests`` exception may repeat the URL or the prepared request (and with
  it an ``Authorization`` header), so :func:`transport_failure_text` names only the
  exception's class, and bodies are passed through :func:`vault.pan.redact` first.

The module depends on nothing but ``requests`` and the vault's redaction, so every
connector package may import it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Final, Protocol

import requests

from crm_pay.domain.errors import ConfigurationError
from vault.pan import redact

__all__ = [
    "MAX_RETRY_AFTER",
    "answer_excerpt",
    "parse_retry_after",
    "retry_after",
    "status_failure_text",
    "timeout_setting",
    "transport_failure_text",
]

#: Longest delay we accept from a ``Retry-After`` header (seconds). Longer answers are
#: clamped: the outbox retries after a day and the admin sees the error meanwhile.
MAX_RETRY_AFTER: Final = 86_400.0
#: Default length of a service's answer kept for the admin (characters).
EXCERPT_LENGTH: Final = 300


class _HasHeaders(Protocol):
    """Anything with response headers: a ``requests.Response`` or a ``$batch`` part."""

    @property
    def headers(self) -> object: ...


def parse_retry_after(
    value: str | None,
    *,
    now: Callable[[], float] = time.time,
    limit: float = MAX_RETRY_AFTER,
) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or ``None`` if absent or unreadable.

    Both forms are accepted: a number of seconds (``"120"``; decimals are tolerated, some
    services send them) and an HTTP date (``"Wed, 21 Oct 2026 07:28:00 GMT"``), measured
    against ``now`` (injected so tests and connectors with their own clock agree). A date in
    the past means "now" (0). Negative or non-finite numbers are nonsense and read as absent,
    so the caller falls back on its own backoff. Anything above ``limit`` is clamped to it.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds) or seconds < 0:
            return None
        return min(seconds, limit)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is read as such
        return None
    return min(max(0.0, moment.timestamp() - now()), limit)


def retry_after(
    response: _HasHeaders,
    *,
    now: Callable[[], float] = time.time,
    default: float | None = None,
) -> float | None:
    """The ``Retry-After`` delay of ``response`` (see :func:`parse_retry_after`), else ``default``.

    ``response.headers`` may be any mapping with ``get`` (case-insensitive for requests'
    responses; a lower-case key is tried too for plain dicts such as ``$batch`` parts).
    """
    headers = response.headers
    getter = getattr(headers, "get", None)
    raw: str | None = None
    if getter is not None:
        raw = getter("Retry-After") or getter("retry-after")
    delay = parse_retry_after(raw, now=now)
    return default if delay is None else delay


def timeout_setting(
    value: object, *, default: float, low: float = 1.0, high: float = 120.0
) -> float:
    """An admin-entered per-request timeout in seconds; ``default`` when left empty.

    Raises ``ConfigurationError`` naming the allowed range, which the admin page shows as is.
    """
    if value is None or value == "":
        return default
    try:
        seconds = float(str(value))
    except ValueError:
        raise ConfigurationError("timeout must be a number of seconds") from None
    if not math.isfinite(seconds) or not low <= seconds <= high:
        raise ConfigurationError(f"timeout must be between {low:g} and {high:g} seconds")
    return seconds


def transport_failure_text(
    service: str, what: str, exc: BaseException, *, timeout: float | None = None
) -> str:
    """Words for a request that got no answer: which service, which call, what kind of failure.

    Only the exception's class is named: requests' messages can repeat the URL (with a query
    that may hold a key) or the prepared request. Callers raise their error ``from None`` for
    the same reason.
    """
    if isinstance(exc, requests.Timeout):
        within = f" within {timeout:g} s" if timeout is not None else " in time"
        return f"{service} did not answer {what}{within}"
    return f"cannot reach {service} for {what} ({type(exc).__name__})"


def status_failure_text(service: str, what: str, status: int, message: str = "") -> str:
    """Words for an error answer: ``"<service> answered HTTP <status> to <what>: <message>"``.

    ``message`` is the service's own explanation (already redacted by the caller, e.g. with
    :func:`answer_excerpt`); it is left out when empty.
    """
    text = f"{service} answered HTTP {status} to {what}"
    return f"{text}: {message}" if message else text


def answer_excerpt(text: str | None, limit: int = EXCERPT_LENGTH) -> str:
    """The start of a service's answer for the admin, with card numbers redacted.

    Redaction runs before the cut, so a card number straddling the limit is never left
    half-visible.
    """
    if not text:
        return ""
    return redact(text.strip())[:limit].rstrip()
