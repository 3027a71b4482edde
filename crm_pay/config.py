"""Configuration keys (``CRM_PAY_*``) with their defaults. docs/configuration.md lists
each with its meaning; ``CrmPay.init_app`` reads them with ``setdefault``."""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULTS"]

DEFAULTS: dict[str, Any] = {
    # None: a SQLite file ``crm_pay.sqlite3`` in the app's instance folder.
    "CRM_PAY_DATABASE_URL": None,
    "CRM_PAY_URL_PREFIX": "/pay",
    # Base URL customers reach us at; pay links are built from it.
    "CRM_PAY_PUBLIC_URL": "http://127.0.0.1:5000",
    "CRM_PAY_PSP": "braintree",
    # "sandbox" / "production" (Braintree's), or "local" (our development sandbox).
    "CRM_PAY_BRAINTREE_ENVIRONMENT": "local",
    "CRM_PAY_BRAINTREE_GATEWAY_URL": "http://127.0.0.1:8830",
    "CRM_PAY_BRAINTREE_ASSETS_URL": "http://127.0.0.1:8831",
    "CRM_PAY_BRAINTREE_MERCHANT_ID": "crm_pay_demo",
    "CRM_PAY_BRAINTREE_PUBLIC_KEY": "demo_public_key",
    # None: read from the vault (secret "psp.braintree.private_key").
    "CRM_PAY_BRAINTREE_PRIVATE_KEY": None,
    "CRM_PAY_BRAINTREE_MERCHANT_ACCOUNT_ID": None,
    "CRM_PAY_BRAINTREE_TIMEOUT": 20.0,
    "CRM_PAY_CRM": "builtin",
    # None: ``crm.json`` in the instance folder.
    "CRM_PAY_BUILTIN_CRM_PATH": None,
    # Key ring "kid:base64key,kid:base64key" (first encrypts), token pepper and audit key.
    # None: generated once into the instance folder — development and demo only.
    "CRM_PAY_VAULT_KEYS": None,
    "CRM_PAY_TOKEN_PEPPER": None,
    "CRM_PAY_AUDIT_KEY": None,
    "CRM_PAY_DEV_SECRETS": True,
    "CRM_PAY_PAY_LINK_TTL": 15 * 60,
    "CRM_PAY_PAY_LINK_MAX_ATTEMPTS": 5,
    "CRM_PAY_MERCHANT_NAME": "Demo Merchant Inc.",
    "CRM_PAY_MERCHANT_ADDRESS": "1 Example Street, Springfield",
    "CRM_PAY_MERCHANT_EMAIL": "billing@example.com",
    "CRM_PAY_MERCHANT_PHONE": "+15550100000",
    "CRM_PAY_MERCHANT_TAX_ID": "",
    "CRM_PAY_RECEIPT_PREFIX": "R",
    "CRM_PAY_OUTBOX_MAX_ATTEMPTS": 10,
    # Run the outbox dispatcher and the janitor as threads in the web process
    # (embedded default). Production runs ``crm-pay worker`` processes instead.
    "CRM_PAY_BACKGROUND_WORKERS": False,
    # Apply database migrations at start-up (embedded default / demo).
    "CRM_PAY_AUTO_MIGRATE": False,
    "CRM_PAY_DEMO": False,
    # Agent-keyed card entry brings the agent desktop into PCI scope; off unless an admin
    # turns it on deliberately.
    "CRM_PAY_ALLOW_AGENT_KEYED": False,
}
