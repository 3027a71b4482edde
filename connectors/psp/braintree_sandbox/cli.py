"""Command line: serve the development sandbox until interrupted."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence

from .server import SandboxConfig, SandboxServer


def _parser() -> argparse.ArgumentParser:
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog="python -m connectors.psp.braintree_sandbox",
        description="crm-pay development sandbox: a local stand-in for the Braintree gateway "
        "(development tool; Braintree test cards only, no money moves).",
    )
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=8830, help="gateway port (0: any free)")
    parser.add_argument(
        "--assets-port", type=int, default=8831, help="hosted-fields port (0: any free)"
    )
    parser.add_argument("--merchant-id", default=defaults.merchant_id)
    parser.add_argument("--public-key", default=defaults.public_key)
    parser.add_argument("--private-key", default=defaults.private_key)
    parser.add_argument("--webhook-url", help="where to POST signed webhook notifications")
    parser.add_argument(
        "--auto-settle-seconds", type=float, help="settle submitted transactions after N s"
    )
    parser.add_argument("--state-path", help="JSON file that keeps state across restarts")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C; prints the URLs and credentials to configure crm-pay with."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = SandboxConfig(
        merchant_id=args.merchant_id,
        public_key=args.public_key,
        private_key=args.private_key,
        host=args.host,
        port=args.port,
        assets_port=args.assets_port,
        webhook_url=args.webhook_url,
        auto_settle_seconds=args.auto_settle_seconds,
        state_path=args.state_path,
    )
    finished = threading.Event()
    # Ctrl-C and SIGTERM (process managers, `kill`) both stop cleanly.
    signal.signal(signal.SIGTERM, lambda *_: finished.set())
    server = SandboxServer(config).start()
    print("crm-pay development sandbox (not Braintree; test cards only)", flush=True)
    print(f"  gateway:       {server.gateway_url}", flush=True)
    print(f"  hosted fields: {server.assets_url}/hosted-fields.js", flush=True)
    print(f"  merchant id:   {config.merchant_id}  public key: {config.public_key}", flush=True)
    print(f"  webhooks to:   {config.webhook_url or '(none)'}", flush=True)
    accounts = ", ".join(f"{a} ({c})" for a, c in config.merchant_accounts.items())
    print(f"  merchant accounts: {accounts}", flush=True)
    try:
        while not finished.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
