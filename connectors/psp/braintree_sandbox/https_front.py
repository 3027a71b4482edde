"""Braintree's and PayPal's https hosts, answered by the development sandbox, for a
browser that a person (or a benchmark) drives: a TLS server on loopback that the
browser's host resolver sends those hosts to.

Why: braintree-web talks only to Braintree's own https hosts (its ``isVerifiedDomain``
refuses any URL that is not https on a Braintree or PayPal domain), so the sandbox cannot
simply be named in the client token; the browser tests answer those hosts with
Playwright's routing (:mod:`.browser_routes`), which a person's browser does not have.
With this front, chromium started with :meth:`BraintreeHostsFront.chromium_arguments`
(``--host-resolver-rules`` sending :data:`~.browser_routes.ROUTED_HOSTS` here, every
other name unresolved, so nothing leaves the machine; ``--ignore-certificate-errors``,
as the certificate is a throw-away one made at start) runs braintree-web's own code
against the sandbox: every request goes to the sandbox's assets origin at the same path,
as the browser tests' routing sends it.

A development tool, like the sandbox: never for a browser used for anything else (the
arguments turn certificate checks off), which is why it is given its own profile.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request

from .browser_routes import ROUTED_HOSTS

__all__ = ["BraintreeHostsFront"]

# Headers of one connection, not of the message (dropped both ways).
_HOP = {"host", "connection", "content-length", "content-encoding", "transfer-encoding"}


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log line per request (the sandbox logs what matters)."""


class BraintreeHostsFront:
    """A TLS server on ``127.0.0.1`` answering every request with the sandbox's answer to
    the same path at ``sandbox_assets`` (e.g. ``http://127.0.0.1:8831``)."""

    def __init__(self, sandbox_assets: str) -> None:
        self.sandbox_assets = sandbox_assets.rstrip("/")
        self._session = requests.Session()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the front first"
        return int(self._server.server_port)

    def start(self) -> BraintreeHostsFront:
        # "adhoc": a self-signed certificate made now (werkzeug, with cryptography)
        self._server = make_server(
            "127.0.0.1",
            0,
            self._app,
            threaded=True,
            request_handler=_Quiet,
            ssl_context="adhoc",
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="braintree-hosts-front", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    def __enter__(self) -> BraintreeHostsFront:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def resolver_rules(self, *local_hosts: str) -> str:
        """chromium's ``--host-resolver-rules`` value: the routed hosts to this front,
        ``local_hosts`` (the demo's own host) as they are, every other name unresolved."""
        rules = [f"MAP {host} 127.0.0.1:{self.port}" for host in ROUTED_HOSTS]
        rules.append("MAP * ~NOTFOUND")
        rules += [f"EXCLUDE {host}" for host in dict.fromkeys(("127.0.0.1", *local_hosts))]
        return ", ".join(rules)

    def chromium_arguments(self, *local_hosts: str) -> list[str]:
        """The arguments of a chromium that runs braintree-web against the sandbox."""
        return [
            f"--host-resolver-rules={self.resolver_rules(*local_hosts)}",
            "--ignore-certificate-errors",
        ]

    def _app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        request = Request(environ)
        try:
            answer = self._session.request(
                request.method,
                self.sandbox_assets + request.full_path.rstrip("?"),
                headers={k: v for k, v in request.headers.items() if k.lower() not in _HOP},
                data=request.get_data(),
                timeout=10,
                allow_redirects=False,
            )
        except requests.RequestException:
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [b"the development sandbox did not answer"]
        kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in _HOP]
        start_response(f"{answer.status_code} {answer.reason}", kept)
        return [answer.content]
