"""Salesforce error bodies translated into the CRM port's errors.

Internal to :mod:`connectors.crm.salesforce`. Salesforce's REST API answers a failed call
with a list of ``{"message", "errorCode", "fields"}``; sObject Collections report each
record's failure as ``{"statusCode", "message", "fields"}``. The message is the admin's
best clue, so it travels verbatim in ``CrmCallFailed.crm_message``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import requests

from connectors import http
from crm_pay.ports import CrmCallFailed, RecordResult

__all__ = [
    "RETRYABLE_RECORD_CODES",
    "api_failure",
    "record_result",
    "error_items",
    "retry_after",
]

#: Record-level codes that a later attempt can get past. Everything else (validation
#: rules, missing required fields, bad values, duplicates) needs a person to act.
RETRYABLE_RECORD_CODES: Final = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "REQUEST_LIMIT_EXCEEDED",
        "SERVER_UNAVAILABLE",
        "UNKNOWN_EXCEPTION",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    }
)
#: Delay when Salesforce says "slow down" without a Retry-After header. The daily API
#: request limit is a rolling 24 hours, so hammering it every few seconds helps nobody.
_LIMIT_DELAY: Final = 300.0
_THROTTLE_DELAY: Final = 60.0


def error_items(body: Any) -> list[tuple[str, str]]:
    """``[(code, message)]`` from any of Salesforce's error shapes (empty if none)."""
    items = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        code = item.get("errorCode") or item.get("statusCode") or item.get("error") or ""
        message = item.get("message") or item.get("error_description") or ""
        if code or message:
            found.append((str(code), str(message)))
    return found


def retry_after(response: requests.Response, clock: Callable[[], float]) -> float | None:
    """Seconds from the ``Retry-After`` header (delta or HTTP date, measured on the
    connector's ``clock``), or ``None``."""
    return http.retry_after(response, now=clock)


def api_failure(
    response: requests.Response, what: str, clock: Callable[[], float]
) -> CrmCallFailed:
    """The port error for a failed REST call (not a 401: the caller refreshes first)."""
    status = response.status_code
    try:
        items = error_items(response.json())
    except ValueError:
        items = []
    codes = {code for code, _ in items}
    crm_message = "; ".join(message for _, message in items if message)
    detail = "; ".join(f"{code}: {message}" if code else message for code, message in items)
    detail = detail or f"HTTP {status}"
    if status == 429 or "REQUEST_LIMIT_EXCEEDED" in codes:
        delay = retry_after(response, clock)
        default = _LIMIT_DELAY if "REQUEST_LIMIT_EXCEEDED" in codes else _THROTTLE_DELAY
        return CrmCallFailed(
            f"Salesforce asks to slow down ({what}): {detail}",
            retryable=True,
            delay=delay if delay is not None else default,
            crm_message=crm_message or f"HTTP {status}",
        )
    if status >= 500:
        return CrmCallFailed(
            f"Salesforce is unavailable ({what}): {detail}", crm_message=crm_message
        )
    if status == 403:
        # Missing permissions or a disabled API: an admin fixes them, then the backlog drains.
        return CrmCallFailed(
            f"Salesforce refused access ({what}): {detail}", crm_message=crm_message
        )
    if status == 300:
        crm_message = crm_message or "the external id matches several records"
        detail = crm_message
    return CrmCallFailed(
        f"Salesforce rejected the request ({what}): {detail}",
        retryable=False,
        crm_message=crm_message or f"HTTP {status}",
    )


def record_result(key: str, answer: Any) -> RecordResult:
    """One sObject Collections ``UpsertResult`` as a port ``RecordResult``.

    The error is Salesforce's message verbatim (several joined by "; "); the record is
    retryable only when every error is a transient one (locks, limits, outages).
    """
    if isinstance(answer, dict) and answer.get("success") is True:
        return RecordResult(key, ok=True)
    items = error_items(answer.get("errors") if isinstance(answer, dict) else None)
    message = "; ".join(text for _, text in items if text) or "rejected without a message"
    retryable = bool(items) and all(code in RETRYABLE_RECORD_CODES for code, _ in items)
    return RecordResult(key, ok=False, error=message, retryable=retryable)
