"""Access tokens for the HubSpot API: a private app's fixed token, or OAuth 2 refresh.

Internal to :mod:`connectors.crm.hubspot`. Token values live only in these objects: they
are never logged, never put in an exception message, and ``repr()`` does not show them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final, Protocol

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from connectors import http
from connectors.outbound import STRICT, OutboundPolicy, guard
from crm_pay.ports import CrmAuthFailed, CrmCallFailed

__all__ = [
    "OAuthRefreshToken",
    "PrivateAppToken",
    "TokenSource",
    "hubspot_error",
    "retry_after",
]

# HubSpot access tokens live 30 minutes; renew 5 minutes early so a token never expires
# between the check and the call, even on a slow batch.
_REFRESH_LEEWAY: Final = 300.0
_TIMEOUT: Final = 30.0


class TokenSource(Protocol):
    """Something that hands out a bearer token and may renew it."""

    def bearer(self) -> str:
        """A token valid now (renewed first when it is about to expire)."""
        ...

    def renew(self) -> bool:
        """Get a new token after a 401; ``False`` when this kind of token cannot renew."""
        ...


class PrivateAppToken:
    """A private app's access token: fixed, never expires, cannot be renewed."""

    def __init__(self, access_token: str) -> None:
        self._token = access_token.strip()

    def __repr__(self) -> str:
        return "PrivateAppToken(<hidden>)"

    def bearer(self) -> str:
        return self._token

    def renew(self) -> bool:
        return False


class OAuthRefreshToken:
    """OAuth 2 access tokens obtained from a refresh token with authlib's ``OAuth2Session``.

    The token is cached and renewed :data:`_REFRESH_LEEWAY` seconds before it expires
    (expiry measured on ``clock``), or on demand after a 401. HubSpot may hand out a new
    refresh token; it replaces the old one in memory and ``on_refresh_token`` (if given) is
    called with it so the caller can store it encrypted.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        clock: Callable[[], float],
        on_refresh_token: Callable[[str], None] | None = None,
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        self._token_url = token_url
        self._refresh_token = refresh_token.strip()
        self._clock = clock
        self._on_refresh_token = on_refresh_token
        self._lock = threading.Lock()
        self._access: str | None = None
        self._expires_at = 0.0
        self._oauth = OAuth2Session(
            client_id=client_id,
            client_secret=client_secret.strip(),
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
            default_timeout=_TIMEOUT,
        )
        self._oauth.register_compliance_hook("refresh_token_response", _refuse_hubspot_errors)
        guard(self._oauth, outbound)

    def __repr__(self) -> str:
        return "OAuthRefreshToken(<hidden>)"

    def bearer(self) -> str:
        with self._lock:
            if self._access is None or self._clock() >= self._expires_at - _REFRESH_LEEWAY:
                self._refresh()
            assert self._access is not None
            return self._access

    def renew(self) -> bool:
        with self._lock:
            self._refresh()
        return True

    def _refresh(self) -> None:
        try:
            token = self._oauth.refresh_token(self._token_url, refresh_token=self._refresh_token)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise CrmCallFailed(
                http.transport_failure_text(
                    "HubSpot's token endpoint", "the token refresh", exc, timeout=_TIMEOUT
                )
            ) from None
        except OAuthError as exc:
            raise CrmAuthFailed(
                f"HubSpot refused the OAuth credentials: {exc.error}", crm_message=str(exc.error)
            ) from None
        except (ValueError, requests.HTTPError) as exc:
            # authlib raises these for a non-JSON answer; never chain: a response may be
            # attached to them, and with it the request body holding our secrets.
            raise CrmCallFailed(
                f"HubSpot's token endpoint answered something unexpected ({type(exc).__name__})"
            ) from None
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise CrmAuthFailed("HubSpot's token endpoint answered without an access token")
        expires_in = token.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 1800.0
        self._access = access
        self._expires_at = self._clock() + lifetime
        renewed = token.get("refresh_token")
        if isinstance(renewed, str) and renewed and renewed != self._refresh_token:
            self._refresh_token = renewed
            if self._on_refresh_token is not None:
                self._on_refresh_token(renewed)


def _refuse_hubspot_errors(resp: requests.Response) -> requests.Response:
    """authlib compliance hook: turn HubSpot's token errors into our exceptions.

    HubSpot answers a bad refresh token or client with HTTP 400 and a body such as
    ``{"status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh token"}``
    (no OAuth ``error`` member, so authlib alone would take it for a token).
    """
    if resp.status_code == 200:
        return resp
    error = hubspot_error(resp)
    if resp.status_code in (400, 401, 403):
        raise CrmAuthFailed(
            f"HubSpot refused the OAuth credentials: {error}; reinstall the app or "
            "enter a new refresh token",
            crm_message=error,
        )
    raise CrmCallFailed(
        f"HubSpot's token endpoint failed (HTTP {resp.status_code}): {error}",
        retryable=resp.status_code == 429 or resp.status_code >= 500,
        delay=retry_after(resp),
        crm_message=error,
    )


def hubspot_error(resp: requests.Response) -> str:
    """HubSpot's own error message, verbatim (``message`` of its JSON error body)."""
    try:
        body: Any = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
        status = body.get("status")
        if isinstance(status, str) and status:
            return status
    return f"HTTP {resp.status_code} {resp.reason or ''}".strip()


def retry_after(resp: requests.Response) -> float | None:
    """Seconds to wait before retrying: ``Retry-After`` if present and readable, else 10 on 429.

    HubSpot's burst limit is per ten seconds, hence the default when it names no delay.
    """
    return http.retry_after(resp, default=10.0 if resp.status_code == 429 else None)
