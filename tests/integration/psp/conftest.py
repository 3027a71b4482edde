"""A development sandbox and a BraintreeGateway on it, per test module: the module names
its merchant in ``CREDENTIALS`` (``merchant_id``, ``public_key``, ``private_key``), so
modules never share a sandbox's state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.psp.braintree import BraintreeGateway


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[Any]:
    from connectors.psp import braintree_sandbox as sandbox

    s = sandbox.SandboxServer(
        sandbox.SandboxConfig(**request.module.CREDENTIALS, port=0, assets_port=0)
    )
    s.start()
    yield s
    s.stop()


@pytest.fixture
def gateway(request: pytest.FixtureRequest, server: Any) -> Iterator[BraintreeGateway]:
    credentials = request.module.CREDENTIALS
    gw = BraintreeGateway.for_local_sandbox(server.gateway_url, **credentials, timeout=5.0)
    yield gw
    gw.close()
