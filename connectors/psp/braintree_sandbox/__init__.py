"""A development stand-in for Braintree's gateway, for demos and integration tests.

It speaks the part of Braintree's HTTP/XML API that crm-pay uses, so the real
``braintree`` SDK runs against it unchanged, and serves hosted card fields on a second
origin. It accepts only Braintree's published test cards and nonces and moves no money.
Cards settle in a batch with no webhook, as at Braintree; ``gateway.testing`` can settle,
confirm, decline or pend any transaction; each merchant account has its own currency.

    with SandboxServer(SandboxConfig(webhook_url="http://127.0.0.1:5000/pay/webhooks")) as s:
        gateway = s.braintree_gateway()
        gateway.transaction.sale({"amount": "10.00", "payment_method_nonce": "fake-valid-nonce"})
"""

from .cli import main
from .disputes import DISPUTE_OUTCOMES
from .server import DEFAULT_MERCHANT_ACCOUNTS, SandboxConfig, SandboxServer

__all__ = [
    "DEFAULT_MERCHANT_ACCOUNTS",
    "DISPUTE_OUTCOMES",
    "SandboxConfig",
    "SandboxServer",
    "main",
]
