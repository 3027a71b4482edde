"""OAuth 2.0 for the Salesforce connector: JWT bearer or client credentials, token cached.

Internal to :mod:`connectors.crm.salesforce`.

How authlib is used, and why not ``OAuth2Session``: the JWT bearer assertion is signed
with authlib's RFC 7523 support (:meth:`authlib.oauth2.rfc7523.JWTBearerGrant.sign`, built
on ``joserfc``), and the token request is an ordinary form POST sent through the
connector's one ``requests.Session``. ``OAuth2Session`` would be a second session (the
admin's proxy and TLS settings live on the one we are given), it only refreshes tokens
whose response carries ``expires_in`` -- Salesforce's does not -- and its errors would
still need translating into the port's ``CrmCallFailed`` / ``CrmAuthFailed``. Keeping the
exchange here keeps all of that in one place: the cache, refresh before the session
times out, one forced refresh after a 401, and error messages that quote Salesforce's
``error: error_description`` but never a secret.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import requests
from authlib.oauth2.rfc7523 import JWTBearerGrant
from joserfc.jwk import RSAKey

from connectors.http import transport_failure_text
from connectors.outbound import STRICT, OutboundPolicy, OutboundUrlRefused
from crm_pay.ports import CrmAuthFailed, CrmCallFailed

from .errors import retry_after

__all__ = ["AccessToken", "SalesforceAuth", "JWT_BEARER_GRANT"]

log = logging.getLogger(__name__)

JWT_BEARER_GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Salesforce accepts assertions valid for at most 3 minutes; we stay well inside.
_ASSERTION_LIFETIME: Final = 150
#: Refresh this long before the session would time out, so no call meets an expired one.
_REFRESH_MARGIN: Final = 300.0


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A Salesforce session: the bearer value (never in ``repr``), where to call, until when."""

    value: str = field(repr=False)
    instance_url: str
    identity_url: str | None
    expires_at: float


class SalesforceAuth:
    """Obtains and caches the access token for one connector (thread-safe)."""

    def __init__(
        self,
        *,
        flow: str,
        login_url: str,
        client_id: str,
        username: str,
        audience: str,
        private_key: str | None,
        client_secret: str | None,
        session: requests.Session,
        clock: Callable[[], float],
        timeout: float,
        session_lifetime: float,
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        self.flow = flow
        self._outbound = outbound
        self.token_url = login_url.rstrip("/") + "/services/oauth2/token"
        self.client_id = client_id
        self.username = username
        self.audience = audience
        self._private_key = private_key
        self._client_secret = client_secret
        self._session = session
        self._clock = clock
        self._timeout = timeout
        self._lifetime = session_lifetime
        self._lock = threading.Lock()
        self._token: AccessToken | None = None

    def token(self) -> AccessToken:
        """The cached token, or a new one when there is none or it is about to time out."""
        with self._lock:
            current = self._token
            if current is None or self._clock() >= current.expires_at - _REFRESH_MARGIN:
                self._token = current = self._fetch()
            return current

    def refresh(self, stale: AccessToken) -> AccessToken:
        """A new token after Salesforce refused ``stale`` (401). When another thread already
        replaced it, that newer token is returned instead of asking again."""
        with self._lock:
            if self._token is not None and self._token is not stale:
                return self._token
            self._token = None
            self._token = fresh = self._fetch()
            return fresh

    def forget(self) -> None:
        """Drop the cached token (the next call authenticates again)."""
        with self._lock:
            self._token = None

    # ------------------------------------------------------------------ internals
    def _fetch(self) -> AccessToken:
        form = self._grant()
        try:
            response = self._session.post(
                self.token_url,
                data=form,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            # The exception text can hold the request; name the failure only.
            raise CrmCallFailed(
                transport_failure_text(
                    f"the Salesforce login server {self.token_url}",
                    "the token request",
                    exc,
                    timeout=self._timeout,
                )
            ) from None
        return self._token_from(response)

    def _grant(self) -> dict[str, str]:
        if self.flow == "client_credentials":
            if not self._client_secret:
                raise CrmAuthFailed(
                    "the Salesforce client secret is missing; enter the consumer secret",
                    crm_message="client_secret missing",
                )
            return {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self._client_secret,
            }
        now = int(self._clock())
        assertion = JWTBearerGrant.sign(
            self._signing_key(),
            issuer=self.client_id,
            audience=self.audience,
            subject=self.username,
            issued_at=now,
            expires_at=now + _ASSERTION_LIFETIME,
            alg="RS256",
        )
        text = assertion.decode("ascii") if isinstance(assertion, bytes) else str(assertion)
        return {"grant_type": JWT_BEARER_GRANT, "assertion": text}

    def _signing_key(self) -> RSAKey:
        problem = "the Salesforce private key is not a PEM-encoded RSA private key"
        if not self._private_key:
            raise CrmAuthFailed(
                "the Salesforce private key is missing; paste the PEM key whose certificate "
                "is uploaded to the connected app",
                crm_message="private_key missing",
            )
        try:
            key = RSAKey.import_key(self._private_key)
        except Exception:  # noqa: BLE001 - the parser's own text may quote the key
            raise CrmAuthFailed(problem, crm_message="private_key invalid") from None
        if not key.is_private:
            raise CrmAuthFailed(
                problem + " (it is a public key)", crm_message="private_key invalid"
            )
        return key

    def _token_from(self, response: requests.Response) -> AccessToken:
        status = response.status_code
        if status == 429 or status >= 500:
            raise CrmCallFailed(
                f"the Salesforce login server answered HTTP {status}; will retry",
                delay=retry_after(response, self._clock) if status == 429 else None,
            )
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise CrmCallFailed(f"the Salesforce login server answered HTTP {status} without JSON")
        if "error" in body or status >= 400:
            message = f"{body.get('error', f'HTTP {status}')}: {body.get('error_description', '')}"
            message = message.strip().rstrip(":")
            log.warning("Salesforce refused the connector's credentials: %s", message)
            raise CrmAuthFailed(
                f"Salesforce refused the credentials ({message})", crm_message=message
            )
        value, instance_url = body.get("access_token"), body.get("instance_url")
        if not isinstance(value, str) or not value or not self._callable(instance_url):
            raise CrmCallFailed(
                "the Salesforce token response lacks an access token or an https instance_url"
            )
        lifetime = self._lifetime
        expires_in = body.get("expires_in")  # Salesforce omits it; other servers may not
        if isinstance(expires_in, int | str) and str(expires_in).isdigit():
            lifetime = min(lifetime, float(expires_in))
        identity = body.get("id")
        log.info("authenticated to Salesforce at %s", instance_url)
        return AccessToken(
            value=value,
            instance_url=str(instance_url).rstrip("/"),
            identity_url=identity
            if isinstance(identity, str) and self._callable(identity)
            else None,
            expires_at=self._clock() + lifetime,
        )

    def _callable(self, url: object) -> bool:
        """Bearer tokens only go to URLs the outbound policy accepts: https to a public
        host (the token server names the instance; it may not point us inward)."""
        try:
            self._outbound.check_url(url, setting="instance_url")
        except OutboundUrlRefused as exc:
            log.warning("Salesforce token response refused: %s", exc.message)
            return False
        return True
