"""The Salesforce REST transport: bearer token, one retry after a 401, the PAN guard.

Internal to :mod:`connectors.crm.salesforce`. Every call goes through
:meth:`SalesforceApi.call`, which

* refuses to send a JSON body or query holding something that looks like a card number
  (``vault.pan``) and logs an alert that names the call, never the value;
* encodes amounts as exact JSON numbers (``Decimal``; no float ever sees them);
* authenticates with the cached token, and after a 401 (``INVALID_SESSION_ID``) gets a
  new token and retries exactly once -- a second 401 is ``CrmAuthFailed``;
* turns timeouts, 5xx, 429 and ``REQUEST_LIMIT_EXCEEDED`` into retryable
  ``CrmCallFailed`` (with the delay Salesforce asks for) and validation errors into
  non-retryable ones carrying Salesforce's message verbatim.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

import requests

from connectors.http import transport_failure_text
from crm_pay.ports import CrmAuthFailed, CrmCallFailed
from vault.pan import redact_obj

from .auth import AccessToken, SalesforceAuth
from .errors import api_failure, error_items

__all__ = ["SalesforceApi", "encode_json"]

log = logging.getLogger(__name__)

_MAX_QUERY_PAGES: Final = 10  # 2,000 rows per page: far more than any lookup needs


def encode_json(value: Any) -> bytes:
    """JSON with ``Decimal`` written as an exact number; floats are refused."""
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("amounts must be finite")
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("floats are not sent to Salesforce; use Decimal")
    if isinstance(value, Mapping):
        pairs = (f"{json.dumps(str(key))}:{_encode(item)}" for key, item in value.items())
        return "{" + ",".join(pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    return json.dumps(value)


class SalesforceApi:
    """Calls Salesforce's REST API for one connector."""

    def __init__(
        self,
        auth: SalesforceAuth,
        *,
        session: requests.Session,
        api_version: str,
        timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.auth = auth
        self.api_version = api_version
        self._session = session
        self._timeout = timeout
        self._clock = clock

    # ------------------------------------------------------------------ conveniences
    def query(self, soql: str, what: str) -> list[dict[str, Any]]:
        """All rows of a SOQL query (following ``nextRecordsUrl``)."""
        response = self.call("GET", "query", what, params={"q": soql})
        rows: list[dict[str, Any]] = []
        for _ in range(_MAX_QUERY_PAGES):
            body = _object(response, what)
            rows.extend(record for record in body.get("records", []) if isinstance(record, dict))
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not isinstance(next_url, str):
                break
            response = self.call("GET", next_url, what)
        return rows

    def search(self, sosl: str, what: str) -> list[dict[str, Any]]:
        """The records a SOSL search returns."""
        body = _object(self.call("GET", "search", what, params={"q": sosl}), what)
        found = body.get("searchRecords", [])
        return [record for record in found if isinstance(record, dict)]

    def get_json(self, path: str, what: str, *, allow_404: bool = False) -> Any:
        response = self.call("GET", path, what, allow_404=allow_404)
        return None if response.status_code == 404 else _json(response, what)

    # ------------------------------------------------------------------ the one way out
    def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        allow_404: bool = False,
    ) -> requests.Response:
        """Send one request; ``what`` names the operation in errors and logs.

        ``path`` is relative to ``/services/data/<version>/``, absolute from the instance
        (``/services/...``), or a full URL (the identity service).
        """
        self._refuse_card_numbers(method, what, params, body)
        data = encode_json(body) if body is not None else None
        token = self.auth.token()
        response = self._send(token, method, path, what, params, data)
        if response.status_code == 401:
            log.info("Salesforce session expired or revoked (%s); authenticating again", what)
            token = self.auth.refresh(token)
            response = self._send(token, method, path, what, params, data)
            if response.status_code == 401:
                items = error_items(_maybe_json(response))
                message = "; ".join(m for _, m in items if m) or "HTTP 401"
                raise CrmAuthFailed(
                    f"Salesforce refused a fresh session ({what}): {message}",
                    crm_message=message,
                )
        if response.status_code < 300 or (allow_404 and response.status_code == 404):
            return response
        raise api_failure(response, what, self._clock)

    def _send(
        self,
        token: AccessToken,
        method: str,
        path: str,
        what: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token.value}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        url = self._url(token, path)
        try:
            return self._session.request(
                method, url, params=params, data=data, headers=headers, timeout=self._timeout
            )
        except requests.RequestException as exc:
            # requests' messages can repeat the request; name the failure only.
            raise CrmCallFailed(
                transport_failure_text("Salesforce", what, exc, timeout=self._timeout)
            ) from None

    def _url(self, token: AccessToken, path: str) -> str:
        if path.startswith("https://") or path.startswith("http://"):
            return path
        if path.startswith("/"):
            return token.instance_url + path
        return f"{token.instance_url}/services/data/{self.api_version}/{path}"

    @staticmethod
    def _refuse_card_numbers(
        method: str, what: str, params: Mapping[str, str] | None, body: Any
    ) -> None:
        _, hits = redact_obj([dict(params or {}), body])
        if hits:
            log.error(
                "ALERT: refused to send %d card number(s) to Salesforce (%s %s); "
                "the data was not sent",
                hits,
                method,
                what,
            )
            raise CrmCallFailed(
                f"refused to send a card number to Salesforce ({what}); remove it from "
                "the source record",
                retryable=False,
                crm_message="payload holds a card number (not sent)",
            )


def _json(response: requests.Response, what: str) -> Any:
    try:
        return response.json(parse_float=Decimal)
    except ValueError:
        raise CrmCallFailed(
            f"Salesforce answered {what} with HTTP {response.status_code} and no JSON"
        ) from None


def _object(response: requests.Response, what: str) -> dict[str, Any]:
    body = _json(response, what)
    if not isinstance(body, dict):
        raise CrmCallFailed(f"Salesforce answered {what} with an unexpected shape")
    return body


def _maybe_json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
