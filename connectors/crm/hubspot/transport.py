"""HTTP to the HubSpot API: bearer auth, the PAN guard, 401 renewal and error translation.

Internal to :mod:`connectors.crm.hubspot`. One method, :meth:`HubSpotApi.call`, is the only
way the connector talks to HubSpot, so every rule below holds for every request:

* every outgoing JSON body, query and form field passes :func:`vault.pan.redact_obj`; a
  card number refuses the call (``CrmCallFailed(retryable=False)``) and logs an alert that
  names the endpoint, never the value;
* a 401 renews the token once (OAuth) and the call is sent once more; a second 401, or a
  401 of a private app's token, is ``CrmAuthFailed``;
* 429 and 5xx are retryable, with ``delay`` from ``Retry-After`` (10 s by default on 429);
  timeouts and connection errors are retryable; other 4xx are not, with HubSpot's message
  verbatim in ``crm_message``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import requests

from connectors.http import transport_failure_text
from crm_pay.ports import CrmAuthFailed, CrmCallFailed
from vault.pan import redact, redact_obj

from .auth import TokenSource, hubspot_error, retry_after

__all__ = ["HubSpotApi", "log"]

log = logging.getLogger("connectors.crm.hubspot")
_TIMEOUT: Final = (5.0, 30.0)  # connect, read


class HubSpotApi:
    """A HubSpot API client bound to one portal's credentials."""

    def __init__(self, base_url: str, tokens: TokenSource, session: requests.Session) -> None:
        self.base_url = base_url
        self._tokens = tokens
        self._session = session

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        allow_404: bool = False,
        allow_207: bool = False,
    ) -> Any:
        """Send one request; return its JSON body (``None`` for 404 with ``allow_404``).

        ``files`` is sent as multipart form data together with ``data``; the file content
        itself is a document we rendered (a receipt with last 4 digits only) and is not
        scanned, its name is.
        """
        _refuse_card_numbers(method, path, (json, dict(params or {}), dict(data or {}), files))
        url = self.base_url + path
        response = self._send(method, url, json=json, params=params, data=data, files=files)
        if response.status_code == 401 and self._tokens.renew():
            response = self._send(method, url, json=json, params=params, data=data, files=files)
        log.debug("HubSpot %s %s -> %s", method, path, response.status_code)
        status = response.status_code
        if status == 404 and allow_404:
            return None
        if status == 207 and allow_207:
            return _json(response)
        if 200 <= status < 300:
            return _json(response) if response.content else None
        raise _failure(method, path, response)

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._tokens.bearer()}", "Accept": "application/json"}
        try:
            return self._session.request(method, url, headers=headers, timeout=_TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            # ``from None``: a requests exception carries the prepared request, and with it
            # the Authorization header; nothing of it may reach a traceback or error report.
            what = f"{method} {urlsplit(url).path}"
            raise CrmCallFailed(transport_failure_text("HubSpot", what, exc)) from None


def _refuse_card_numbers(method: str, path: str, parts: tuple[Any, ...]) -> None:
    names = tuple(name for name, *_ in (parts[3] or {}).values())
    _, hits = redact_obj((*parts[:3], names))
    if hits:
        # An alert for the admin: which call, never the value (nor the payload around it).
        log.error(
            "card number detected in a HubSpot %s %s payload; the call was refused",
            method,
            path.split("?")[0],
            extra={"alert": "pan_in_crm_payload", "connector": "hubspot"},
        )
        raise CrmCallFailed(
            "a card number was found in the data for HubSpot; nothing was sent "
            "(fix the record that holds it, then replay)",
            retryable=False,
        )


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise CrmCallFailed(
            f"HubSpot answered HTTP {response.status_code} with a body that is not JSON"
        ) from None


def _failure(method: str, path: str, response: requests.Response) -> CrmCallFailed:
    status = response.status_code
    # HubSpot does not echo secrets, but it may echo data we sent: keep card numbers out.
    message = redact(hubspot_error(response))
    where = f"HubSpot {method} {path.split('?')[0]}"
    if status in (401, 403):
        hint = "the token was refused" if status == 401 else "a scope is missing"
        return CrmAuthFailed(
            f"{where}: {hint} (HTTP {status}): {message}", retryable=True, crm_message=message
        )
    if status == 429 or status >= 500:
        return CrmCallFailed(
            f"{where} failed (HTTP {status}): {message}",
            retryable=True,
            delay=retry_after(response),
            crm_message=message,
        )
    return CrmCallFailed(
        f"{where} was refused (HTTP {status}): {message}", retryable=False, crm_message=message
    )
