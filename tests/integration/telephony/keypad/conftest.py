"""The keypad world the keypad integration tests in this folder share: the Twilio stand-in (keyed
cards vaulted in the Braintree sandbox, as Twilio's Braintree Pay Connector does), the app
served on a port the stand-in posts its status callbacks to, with the Twilio adapter built
by the wiring from the settings and the vaulted auth token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from connectors.psp.braintree_sandbox import SandboxServer
from connectors.psp.braintree_sandbox.keypad_cards import keypad_tokenizer
from connectors.telephony.twilio_sandbox import TwilioSandboxConfig, TwilioSandboxServer
from crm_pay import wiring
from crm_pay.current import get_context
from crm_pay.live_publisher import make_publisher
from crm_pay.services.context import Context
from crm_pay.services.secrets import get_secret, put_secret
from paytest import Emitted, free_port


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def twilio(sandbox: SandboxServer) -> Iterator[TwilioSandboxServer]:
    config = TwilioSandboxConfig(tokenizer=keypad_tokenizer(sandbox))
    with TwilioSandboxServer(config) as server:
        yield server


@pytest.fixture
def app_settings(port: int, twilio: TwilioSandboxServer) -> dict[str, Any]:
    return {
        "CRM_PAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CRM_PAY_TWILIO_ACCOUNT_SID": twilio.config.account_sid,
        "CRM_PAY_TWILIO_BASE_URL": twilio.base_url,
        "CRM_PAY_TWILIO_PAY_CONNECTOR": "braintree_connector",
    }


@pytest.fixture
def served(app: Flask, port: int, twilio: TwilioSandboxServer) -> Iterator[Context]:
    """The app on ``port`` (the stand-in posts its callbacks there), with the Twilio
    adapter built by the wiring from the settings and the vaulted auth token."""
    ctx = get_context(app)
    put_secret(ctx, "telephony.twilio.auth_token", twilio.config.auth_token, actor="tests")
    ctx.telephony = wiring.twilio_keypad(
        ctx.config.as_mapping(), secret=lambda name: get_secret(ctx, name)
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ctx
    server.shutdown()
    server.server_close()


@pytest.fixture
def live(served: Context) -> Emitted:
    """What the live publisher would send to the payments' rooms."""
    emitted = Emitted()
    served.live = make_publisher(emitted)
    return emitted
