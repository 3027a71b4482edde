"""Braintree's and PayPal's hosts, sent to the development sandbox, for a driven browser
(Playwright: the browser tests and the pay-page benchmark) that runs braintree-web itself.

braintree-web talks only to Braintree's https hosts (``lib/is-verified-domain.js``) and
its hosted fields accept messages only from frames on them, so the sandbox's client
token names ``api.sandbox.braintreegateway.com`` and ``assets.braintreegateway.com``
(``connectors/psp/braintree_sandbox/client_token.py``). Here every request the browser
makes to those hosts, and to the PayPal hosts braintree-web's analytics
(``www.paypal.com``) and data collector (``c.paypal.com``) use, and to Google Pay's
``pay.google.com`` (the sandbox's stand-in of ``pay.js``) and to Braintree's GraphQL
API (``payments.sandbox.braintree-api.com``, Venmo's payment contexts), is answered by the
sandbox's assets app over loopback: the browser still sees Braintree's origins, so the
SDK's own origin checks run unchanged. Nothing leaves the machine: a request to any
other https host is aborted and recorded, for the test to assert on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

__all__ = ["ROUTED_HOSTS", "BraintreeHosts"]

ROUTED_HOSTS = (
    "api.sandbox.braintreegateway.com",
    "assets.braintreegateway.com",
    "www.paypal.com",
    "c.paypal.com",
    "pay.google.com",  # Google's pay.js: the sandbox's stand-in (wallets.py)
    "payments.sandbox.braintree-api.com",  # Braintree's GraphQL API: Venmo (venmo.py)
)
_HTTPS = re.compile(r"^https://")
# Request headers that belong to the browser's connection, not to the request.
_HOP = {"host", "connection", "content-length", "accept-encoding"}


@dataclass
class BraintreeHosts:
    """Route ``ROUTED_HOSTS`` of a Playwright browser context to ``sandbox_assets``
    (the sandbox's assets origin, e.g. ``http://127.0.0.1:8831``)."""

    sandbox_assets: str
    #: every routed request: (method, host, path) — never a body
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    #: https requests to a host that is not routed (aborted)
    refused: list[str] = field(default_factory=list)
    _session: requests.Session = field(default_factory=requests.Session, repr=False)

    def attach(self, context: Any) -> None:
        context.route(_HTTPS, self._handle)

    def _handle(self, route: Any) -> None:
        request = route.request
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        if host not in ROUTED_HOSTS:
            self.refused.append(f"{host}{parts.path}")
            route.abort("blockedbyclient")
            return
        self.seen.append((request.method, host, parts.path))
        target = (
            self.sandbox_assets.rstrip("/")
            + parts.path
            + (f"?{parts.query}" if parts.query else "")
        )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        try:
            answer = self._session.request(
                request.method,
                target,
                headers=headers,
                data=request.post_data_buffer,
                timeout=10,
                allow_redirects=False,
            )
        except requests.RequestException:
            route.abort("connectionfailed")
            return
        kept = {
            k: v
            for k, v in answer.headers.items()
            if k.lower()
            not in ("content-length", "content-encoding", "transfer-encoding", "connection")
        }
        route.fulfill(status=answer.status_code, headers=kept, body=answer.content)
