"""A small client of the Dataverse Web API (OData v4, ``/api/data/v9.2/``).

Internal to :mod:`connectors.crm.dynamics`. It adds the bearer token (refreshed once on a
401, then the call is retried once), checks every outgoing body for card numbers, writes
JSON with exact decimals, and turns every failure into :class:`CrmCallFailed` /
:class:`CrmAuthFailed` carrying Dataverse's own message verbatim.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final
from urllib.parse import quote

import requests

from connectors.http import answer_excerpt, parse_retry_after, transport_failure_text
from crm_pay.ports import CrmAuthFailed, CrmCallFailed
from vault.pan import redact_obj

from .auth import TokenSource
from .config import DynamicsConfig

__all__ = [
    "DataverseApi",
    "SERVICE_PROTECTION_CODES",
    "encode_json",
    "failure",
    "is_guid",
    "odata_error",
    "odata_key",
    "odata_string",
    "refuse_card_numbers",
]

log = logging.getLogger("connectors.crm.dynamics")

#: Dataverse's service protection limits (number of requests, execution time, concurrent
#: requests): the Web API answers them with 429 and a ``Retry-After`` header.
SERVICE_PROTECTION_CODES: Final = frozenset({"0x80072322", "0x80072321", "0x80072326"})
_GUID: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# Characters left as they are in a query value: OData syntax, readable in logs and tests.
_QUERY_SAFE: Final = "$',()/=:@"
_EXCERPT: Final = 500
_ODATA_HEADERS: Final = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
}


def is_guid(value: str) -> bool:
    """True for a GUID such as ``"00000000-0000-0000-0000-000000000001"``."""
    return isinstance(value, str) and _GUID.fullmatch(value) is not None


def odata_string(value: str) -> str:
    """``value`` as an OData string literal: quoted, inner single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def odata_key(entity_set: str, column: str, value: str) -> str:
    """The path of a record by alternate key: ``crmpay_payments(crmpay_externalid='p1')``.

    The literal is percent-encoded, so a ``/``, ``?`` or ``#`` in our id cannot change
    which URL is called.
    """
    literal = quote(odata_string(value), safe="'")
    return f"{entity_set}({column}={literal})"


def encode_json(value: Any) -> str:
    """JSON text where ``Decimal`` values are written as exact numbers (``12.30``).

    ``json.dumps`` would need floats for that, and money never becomes a float.
    """
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("only finite decimals can be sent")
        return format(value, "f")
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k))}:{encode_json(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode_json(item) for item in value) + "]"
    return json.dumps(value)


def refuse_card_numbers(body: Any, what: str) -> None:
    """Raise a non-retryable ``CrmCallFailed`` (and log an alert) if ``body`` holds a PAN."""
    _, hits = redact_obj(body)
    if hits:
        log.error(
            "ALERT: a payload for Dynamics 365 (%s) contains %d card number(s); it was not "
            "sent. Find where the number was typed and remove it.",
            what,
            hits,
            extra={"alert": "pan_in_crm_payload", "connector": "dynamics"},
        )
        raise CrmCallFailed(
            f"refused to send {what} to Dynamics 365: it contains what looks like a card number",
            retryable=False,
            crm_message="not sent: the payload contained a card number",
        )


def odata_error(status: int, text: str) -> tuple[str, str]:
    """``(code, message)`` of an OData error body ``{"error": {"code", "message"}}``;
    for anything else, ``("", excerpt of the body)``."""
    try:
        error = json.loads(text)["error"]
        return str(error.get("code") or ""), str(error.get("message") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        excerpt = answer_excerpt(text, _EXCERPT)
        return "", excerpt or f"HTTP {status} with an empty body"


def failure(
    status: int, code: str, message: str, *, what: str, retry_after: str | None = None
) -> CrmCallFailed:
    """The exception for a Dataverse error answer (also used for parts of a ``$batch``)."""
    delay = parse_retry_after(retry_after)
    text = f"Dynamics 365 answered HTTP {status}{f' ({code})' if code else ''} to {what}: "
    text += message
    if status == 429 or code in SERVICE_PROTECTION_CODES:
        return CrmCallFailed(text, retryable=True, delay=delay, crm_message=message)
    if status in (401, 403):
        # A refused token, or an application user without the privilege (security role):
        # the admin fixes it in Entra ID / Dataverse; nothing is lost meanwhile.
        return CrmAuthFailed(text, delay=delay, crm_message=message)
    retryable = status >= 500 or status == 408
    return CrmCallFailed(text, retryable=retryable, delay=delay, crm_message=message)


class DataverseApi:
    """Authenticated calls to one Dataverse environment."""

    def __init__(
        self, config: DynamicsConfig, tokens: TokenSource, session: requests.Session
    ) -> None:
        self.config = config
        self._tokens = tokens
        self._session = session

    def url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        """Absolute URL of ``path`` (relative to ``/api/data/v9.2/``) with ``params``."""
        url = self.config.api_url + path
        if params:
            url += "?" + "&".join(f"{k}={quote(v, safe=_QUERY_SAFE)}" for k, v in params.items())
        return url

    def get(
        self, path: str, params: Mapping[str, str] | None = None, *, what: str
    ) -> dict[str, Any] | None:
        """GET a JSON object; ``None`` when Dataverse answers 404."""
        response = self.send("GET", path, params=params, what=what, allow=(404,))
        if response.status_code == 404:
            return None
        try:
            data = response.json()
        except ValueError:
            raise CrmCallFailed(f"Dynamics 365 answered {what} with unreadable JSON") from None
        if not isinstance(data, dict):
            raise CrmCallFailed(f"Dynamics 365 answered {what} with an unexpected shape")
        return data

    def send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        raw_body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        allow: Iterable[int] = (),
    ) -> requests.Response:
        """Send one request; raise ``CrmCallFailed`` unless it succeeded or its status is
        in ``allow``. A JSON ``body`` is checked for card numbers first."""
        data = raw_body
        all_headers = {**_ODATA_HEADERS, **(headers or {})}
        if body is not None:
            refuse_card_numbers(body, what)
            data = encode_json(body).encode("utf-8")
            all_headers["Content-Type"] = "application/json; charset=utf-8"
        url = self.url(path, params)
        response, token = self._send_once(method, url, data, all_headers, what)
        if response.status_code == 401:
            # An expired or revoked token: fetch a new one and try once more.
            self._tokens.invalidate(token)
            response, _ = self._send_once(method, url, data, all_headers, what)
        if response.status_code < 300 or response.status_code in set(allow):
            return response
        code, message = odata_error(response.status_code, response.text)
        if response.status_code == 401:
            message = message or "the access token was refused"
        raise failure(
            response.status_code,
            code,
            message,
            what=what,
            retry_after=response.headers.get("Retry-After"),
        )

    def _send_once(
        self, method: str, url: str, data: bytes | None, headers: dict[str, str], what: str
    ) -> tuple[requests.Response, str]:
        token = self._tokens.bearer()
        try:
            response = self._session.request(
                method,
                url,
                data=data,
                headers={**headers, "Authorization": f"Bearer {token}"},
                timeout=self.config.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise CrmCallFailed(
                transport_failure_text("Dynamics 365", what, exc, timeout=self.config.timeout)
            ) from None
        return response, token
