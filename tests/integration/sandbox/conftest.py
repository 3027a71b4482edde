"""Fixtures for the Braintree development sandbox: a running server and a real SDK gateway."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import braintree
import pytest
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from connectors.psp.braintree_sandbox import SandboxConfig, SandboxServer


@dataclass
class WebhookReceiver:
    """A tiny local endpoint that keeps every form posted to it."""

    url: str
    received: queue.Queue[dict[str, str]] = field(default_factory=queue.Queue)

    def next(self, timeout: float = 5.0) -> dict[str, str]:
        return self.received.get(timeout=timeout)


@pytest.fixture(scope="module")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver: WebhookReceiver | None = None

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        assert receiver is not None
        receiver.received.put(form)
        return Response("ok")

    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    receiver = WebhookReceiver(url=f"http://127.0.0.1:{server.server_port}/webhooks")
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def sandbox(webhook_receiver: WebhookReceiver) -> Iterator[SandboxServer]:
    config = SandboxConfig(webhook_url=webhook_receiver.url, timeout_fault_seconds=1.5)
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def gateway(sandbox: SandboxServer) -> Iterator[braintree.BraintreeGateway]:
    gateway = sandbox.braintree_gateway()
    yield gateway
    gateway.config.close()


@pytest.fixture
def sandbox_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog
