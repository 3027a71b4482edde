"""Access tokens for Dataverse: Microsoft identity platform, client credentials flow.

Internal to :mod:`connectors.crm.dynamics`. The token request goes through authlib's
requests-based ``OAuth2Session`` (``grant_type=client_credentials``, the client secret in
the form body, scope ``{org_url}/.default``). The token is cached until shortly before it
expires and can be dropped after a 401 so that the next call fetches a fresh one. Neither
the secret nor a token is ever logged or put into an exception message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from connectors import http
from connectors.outbound import STRICT, OutboundPolicy, guard
from crm_pay.ports import CrmAuthFailed, CrmCallFailed

from .config import DynamicsConfig

__all__ = ["TokenSource"]

#: Fetch a new token this long before the cached one expires, so that no call is sent
#: with a token that dies in flight.
REFRESH_MARGIN: Final = 120.0
_DEFAULT_LIFETIME: Final = 300.0
# Entra ID errors that a later attempt may not repeat (the service itself had a problem).
_TEMPORARY_ERRORS: Final = frozenset({"temporarily_unavailable", "server_error"})


class TokenSource:
    """Hands out a valid bearer token, fetching one when needed."""

    def __init__(
        self,
        config: DynamicsConfig,
        *,
        clock: Callable[[], float],
        oauth: OAuth2Session | None = None,
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        self._config = config
        self._clock = clock
        self._oauth = oauth or OAuth2Session(
            client_id=config.client_id,
            client_secret=config.client_secret,
            scope=config.scope,
            # Entra ID documents the secret in the form body for this flow.
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
        )
        guard(self._oauth, outbound)  # the token endpoint too passes the outbound policy
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def __repr__(self) -> str:
        return f"TokenSource(client_id={self._config.client_id!r})"

    def bearer(self) -> str:
        """A token valid for at least ``REFRESH_MARGIN`` seconds more."""
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - REFRESH_MARGIN:
                self._token, self._expires_at = self._fetch()
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (Dataverse refused it); a newer one is kept."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> tuple[str, float]:
        issued_at = self._clock()
        try:
            answer = self._oauth.fetch_token(
                self._config.token_url,
                grant_type="client_credentials",
                timeout=self._config.timeout,
            )
        except OAuthError as exc:
            # Entra ID's description (AADSTS...) says exactly what is wrong and holds no
            # secret; it is kept verbatim for the admin.
            description = self._scrub(str(exc.description or exc.error))
            if exc.error in _TEMPORARY_ERRORS:
                raise CrmCallFailed(
                    f"Microsoft sign-in is unavailable: {description}", crm_message=description
                ) from None
            raise CrmAuthFailed(
                f"Microsoft sign-in refused the app's credentials ({exc.error}): {description}",
                crm_message=description,
            ) from None
        except requests.Timeout as exc:
            raise CrmCallFailed(
                http.transport_failure_text(
                    "Microsoft sign-in", "the token request", exc, timeout=self._config.timeout
                )
            ) from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            delay = http.retry_after(exc.response) if exc.response is not None else None
            raise CrmCallFailed(
                f"Microsoft sign-in answered HTTP {status}", retryable=status >= 429, delay=delay
            ) from None
        except requests.RequestException as exc:
            raise CrmCallFailed(
                http.transport_failure_text("Microsoft sign-in", "the token request", exc)
            ) from None
        except ValueError:
            raise CrmCallFailed("Microsoft sign-in answered with something unreadable") from None
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise CrmCallFailed("Microsoft sign-in answered without an access token")
        try:
            lifetime = float(answer.get("expires_in", _DEFAULT_LIFETIME))
        except (TypeError, ValueError):
            lifetime = _DEFAULT_LIFETIME
        return token, issued_at + lifetime

    def _scrub(self, text: str) -> str:
        return text.replace(self._config.client_secret, "[client secret]")
