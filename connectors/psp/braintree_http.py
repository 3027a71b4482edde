"""Transport for the Braintree adapter: environments, the HTTP strategy, error translation.

Internal to :mod:`connectors.psp.braintree`; nothing outside the adapter imports it.

The SDK lets a :class:`braintree.Configuration` take an ``http_strategy`` class. Ours
does the same job as the SDK's default one, with two differences that matter to us:
it remembers the ``Retry-After`` header of a 429 answer (the SDK drops response headers),
and it lets ``requests`` merge proxy settings itself instead of patching the session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn
from urllib.parse import urlsplit
from xml.parsers.expat import ExpatError

import braintree
import requests
from braintree import exceptions as bt_errors
from braintree.util.http import Http

from crm_pay.domain.errors import ConfigurationError, NotFound, PspProtocolError, PspUnavailable

__all__ = ["RecordingHttp", "local_environment", "parse_environment", "translate_errors"]

_NAMED_ENVIRONMENTS = {
    "sandbox": braintree.Environment.Sandbox,
    "production": braintree.Environment.Production,
}


def parse_environment(environment: str | braintree.Environment) -> braintree.Environment:
    """Return the SDK environment for ``"sandbox"``, ``"production"`` or an instance."""
    if isinstance(environment, braintree.Environment):
        return environment
    try:
        return _NAMED_ENVIRONMENTS[environment]
    except (KeyError, TypeError):
        raise ConfigurationError(
            f"Braintree environment {environment!r} is unknown; use 'sandbox', 'production' "
            "or BraintreeGateway.for_local_sandbox(url, ...) for the embedded sandbox"
        ) from None


def local_environment(gateway_url: str) -> braintree.Environment:
    """A :class:`braintree.Environment` for a plain-HTTP gateway such as the local sandbox.

    The SDK derives the scheme from the port (443 means HTTPS, anything else HTTP), so
    the URL must be ``http://host:port`` with a port other than 443.
    """
    parts = urlsplit(gateway_url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None or port == 443:
        raise ConfigurationError(
            f"local sandbox URL {gateway_url!r} must look like http://127.0.0.1:PORT "
            "(plain HTTP, explicit port other than 443)"
        )
    if parts.path not in ("", "/"):
        raise ConfigurationError(
            f"local sandbox URL {gateway_url!r} must not have a path; the SDK adds "
            "/merchants/<id>/... itself"
        )
    return braintree.Environment(
        "crm-pay-local-sandbox",
        parts.hostname,
        str(port),
        gateway_url,  # auth_url: only used by OAuth flows, which the sandbox does not serve
        False,  # is_ssl
        None,  # ssl_certificate: nothing to verify over plain HTTP
        parts.hostname,
        str(port),
    )


class RecordingHttp(Http):  # type: ignore[misc]  # the SDK ships no type hints
    """The SDK's HTTP strategy with one pooled ``requests`` session per thread.

    (A 429's ``Retry-After`` is not kept: nothing retries a PSP call on a timer; the
    janitor re-checks an unknown outcome on its own schedule.)"""

    def __init__(self, config: Any, environment: Any = None) -> None:
        super().__init__(config, environment)
        self._local = threading.local()

    def _session(self) -> requests.Session:
        # Like the SDK, drop a connection pool left idle too long: a load balancer may have
        # closed it, and a POST on a dead connection would turn a sale into "unknown".
        now = time.monotonic()
        session: requests.Session | None = getattr(self._local, "session", None)
        idle_limit = getattr(self.config, "max_connection_idle_seconds", 60)
        if session is not None and now - self._local.last_used > idle_limit:
            session.close()
            session = None
        if session is None:
            session = self._local.session = requests.Session()
        self._local.last_used = now
        return session

    def http_do(
        self, http_verb: str, path: str, headers: dict[str, Any], request_body: Any
    ) -> list[Any]:
        data, files = request_body if isinstance(request_body, tuple) else (request_body, None)
        # The SDK's environments carry their CA bundle; a plain-HTTP one has nothing to verify.
        verify: Any = self.environment.ssl_certificate if self.environment.is_ssl else True
        response = self._session().request(
            http_verb,
            path,
            headers=headers,
            data=data,
            files=files,
            verify=verify,
            timeout=self.config.timeout,
        )
        return [response.status_code, response.text]

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            del self._local.session


_UNKNOWN_OUTCOME = (
    bt_errors.RequestTimeoutError,
    bt_errors.GatewayTimeoutError,
    bt_errors.ServerError,
    bt_errors.ServiceUnavailableError,
    bt_errors.UnexpectedError,  # includes the SDK's wrapped timeouts and connection errors
    requests.exceptions.RequestException,
)
_UNREADABLE = (ExpatError, KeyError, AttributeError, TypeError, ValueError, ArithmeticError)


@contextmanager
def translate_errors(operation: str, http: RecordingHttp) -> Iterator[None]:
    """Turn SDK and transport failures into crm-pay errors.

    Messages name the operation and the failure class only: never a request body, never
    the SDK's own text (which may echo parameters).
    """
    try:
        yield
    except (bt_errors.AuthenticationError, bt_errors.AuthorizationError) as exc:
        raise ConfigurationError(
            f"Braintree refused our credentials during {operation} ({type(exc).__name__}); "
            "check the merchant id, public/private key pair, environment (sandbox vs "
            "production) and the API key's role in the Braintree control panel"
        ) from None
    except bt_errors.UpgradeRequiredError:
        raise ConfigurationError(
            "Braintree no longer accepts this SDK version; upgrade the 'braintree' package"
        ) from None
    except bt_errors.ConfigurationError:
        raise ConfigurationError(
            f"the Braintree SDK rejected its configuration during {operation}; check the "
            "merchant id and keys"
        ) from None
    except bt_errors.NotFoundError:
        raise NotFound(f"Braintree has no such transaction ({operation})") from None
    except bt_errors.TooManyRequestsError:
        _raise_unavailable(f"Braintree rate-limited {operation} (HTTP 429); outcome unknown")
    except _UNKNOWN_OUTCOME as exc:
        _raise_unavailable(f"Braintree {operation} failed ({type(exc).__name__}); outcome unknown")
    except _UNREADABLE as exc:
        raise PspProtocolError(
            f"Braintree answered {operation} with something we cannot read "
            f"({type(exc).__name__}); outcome unknown"
        ) from None


def _raise_unavailable(message: str) -> NoReturn:
    raise PspUnavailable(message) from None
