"""Command line: serve the telephony stand-in until interrupted."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence

from .server import TwilioSandboxConfig, TwilioSandboxServer


def _parser() -> argparse.ArgumentParser:
    defaults = TwilioSandboxConfig()
    parser = argparse.ArgumentParser(
        prog="python -m connectors.telephony.twilio_sandbox",
        description="crm-pay development telephony stand-in: a local stand-in for Twilio's "
        "agent-assisted Pay (development tool; Braintree test cards only, no money moves).",
    )
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=8840, help="REST port (0: any free)")
    parser.add_argument("--account-sid", default=defaults.account_sid)
    parser.add_argument("--auth-token", default=defaults.auth_token)
    parser.add_argument(
        "--taskrouter-callback",
        default=None,
        metavar="URL",
        help="TaskRouter Event Callback URL: a call placed with an agent posts a signed "
        "reservation.accepted there (crm-pay: {public_url}{prefix}/telephony/twilio/taskrouter)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C; prints the base URL and credentials to configure crm-pay with."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = TwilioSandboxConfig(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        host=args.host,
        port=args.port,
        taskrouter_callback=args.taskrouter_callback,
    )
    finished = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: finished.set())
    server = TwilioSandboxServer(config).start()
    print("crm-pay development telephony stand-in (not Twilio; test cards only)", flush=True)
    print(f"  REST base URL:  {server.base_url}", flush=True)
    print(f"  account SID:    {config.account_sid}", flush=True)
    print(f"  auth token:     {config.auth_token}", flush=True)
    print(f"  Pay Connectors: {', '.join(config.payment_connectors)}", flush=True)
    print(f"  a call:         POST {server.base_url}/_sandbox/calls", flush=True)
    print(f"  virtual phone:  {server.phone_url}", flush=True)
    if config.taskrouter_callback:
        print(f"  TaskRouter:     {config.taskrouter_callback}", flush=True)
    try:
        while not finished.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
