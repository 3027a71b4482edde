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
    # Currency -> merchant account id, e.g. {"USD": "acme_usd", "GBP": "acme_gbp"} (a JSON
    # object as an environment variable); a payment in a currency not listed is refused.
    # None: the one account below; with neither and environment "local", the sandbox's.
    "CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS": None,
    # One merchant account (None: the merchant's default one) and the currency it settles in.
    "CRM_PAY_BRAINTREE_MERCHANT_ACCOUNT_ID": None,
    "CRM_PAY_BRAINTREE_CURRENCY": "USD",
    "CRM_PAY_BRAINTREE_TIMEOUT": 20.0,
    "CRM_PAY_CRM": "builtin",
    # None: ``crm.json`` in the instance folder.
    "CRM_PAY_BUILTIN_CRM_PATH": None,
    # Host names connectors may reach although they resolve to private addresses
    # ("crm.corp.internal, hooks.corp.internal"); every other connector URL must be https
    # to a public host (connectors.outbound; loopback too only in demo mode and tests).
    "CRM_PAY_OUTBOUND_ALLOW_HOSTS": "",
    # Key ring "kid:base64key,kid:base64key" (first encrypts), token pepper and audit key.
    # None: read from <instance>/dev-secrets.json, which only CRM_PAY_DEV_SECRETS=true
    # (development, tests, `crm-pay demo`) may create. Production sets all three.
    "CRM_PAY_VAULT_KEYS": None,
    "CRM_PAY_TOKEN_PEPPER": None,
    "CRM_PAY_AUDIT_KEY": None,
    "CRM_PAY_DEV_SECRETS": False,
    "CRM_PAY_PAY_LINK_TTL": 15 * 60,
    "CRM_PAY_PAY_LINK_MAX_ATTEMPTS": 5,
    "CRM_PAY_MERCHANT_NAME": "Demo Merchant Inc.",
    "CRM_PAY_MERCHANT_ADDRESS": "1 Example Street, Springfield",
    "CRM_PAY_MERCHANT_EMAIL": "billing@example.com",
    "CRM_PAY_MERCHANT_PHONE": "+15550100000",
    "CRM_PAY_MERCHANT_TAX_ID": "",
    "CRM_PAY_RECEIPT_PREFIX": "R",
    "CRM_PAY_OUTBOX_MAX_ATTEMPTS": 10,
    # Seconds a payment may stay ``unknown`` with no trace at the PSP before it fails as
    # ``not_at_psp`` (the customer can then pay again).
    "CRM_PAY_UNKNOWN_WINDOW": 1800,
    # Seconds between settlement checks of one approved payment (cards settle with no
    # webhook: the janitor asks the PSP).
    "CRM_PAY_SETTLEMENT_POLL_INTERVAL": 600,
    # Email: "file" writes .eml files into CRM_PAY_MAILBOX_PATH (demo; a viewer page shows
    # them in demo mode), "smtp" sends through CRM_PAY_SMTP_*. Other senders plug in
    # through the ``crm_pay.email`` entry-point group.
    "CRM_PAY_EMAIL_SENDER": "file",
    # None: ``mailbox/`` in the instance folder.
    "CRM_PAY_MAILBOX_PATH": None,
    "CRM_PAY_SMTP_HOST": None,
    "CRM_PAY_SMTP_PORT": 587,
    "CRM_PAY_SMTP_USERNAME": None,
    # None: read from the vault (secret "smtp.password") when a username is set.
    "CRM_PAY_SMTP_PASSWORD": None,
    # STARTTLS on a plain connection (port 587), or implicit TLS with SSL (port 465).
    "CRM_PAY_SMTP_STARTTLS": True,
    "CRM_PAY_SMTP_SSL": False,
    "CRM_PAY_SMTP_TIMEOUT": 30.0,
    # From header of customer emails; None: the merchant's name and CRM_PAY_MERCHANT_EMAIL.
    "CRM_PAY_EMAIL_FROM": None,
    # SMS: "file" writes one JSON file per message into CRM_PAY_SMS_OUTBOX_PATH (demo);
    # real providers plug in through the ``crm_pay.sms`` entry-point group.
    "CRM_PAY_SMS_SENDER": "file",
    # None: ``sms-outbox/`` in the instance folder.
    "CRM_PAY_SMS_OUTBOX_PATH": None,
    # Days a receipts-portal link in a receipt email keeps working.
    "CRM_PAY_RECEIPT_LINK_TTL": 90,
    # Run the outbox dispatcher and the janitor as threads in the web process
    # (embedded default). Production runs ``crm-pay worker`` processes instead.
    "CRM_PAY_BACKGROUND_WORKERS": False,
    # Apply database migrations at start-up (embedded default / demo).
    "CRM_PAY_AUTO_MIGRATE": False,
    "CRM_PAY_DEMO": False,
    # Agent-keyed card entry brings the agent desktop into PCI scope; off unless an admin
    # turns it on deliberately.
    "CRM_PAY_ALLOW_AGENT_KEYED": False,
    # --- agent console sign-in (agent_ui.auth) ---
    # Session cookie sent over HTTPS only. The demo and the tests run on plain http and
    # turn it off; production keeps it on.
    "CRM_PAY_SECURE_COOKIES": True,
    # SameSite of the session cookie. "Lax" suits a console opened in its own tab or in a
    # same-site CRM frame; a CRM on another site framing the console needs "None" (which
    # browsers accept only with secure cookies). CSRF tokens protect forms either way.
    "CRM_PAY_SESSION_SAMESITE": "Lax",
    # Name of crm-pay's own console cookie (Path = the URL prefix); the host app's
    # session cookie is never read or written. Change it when it collides with one of
    # the host's cookie names.
    "CRM_PAY_SESSION_COOKIE_NAME": "crm_pay_session",
    # Seconds without a console request after which the agent is signed out.
    "CRM_PAY_IDLE_TIMEOUT": 15 * 60,
    # Seconds a console sign-in lasts at most, however active the agent is (a shift).
    "CRM_PAY_SESSION_MAX_AGE": 12 * 60 * 60,
    # CSP frame-ancestors of console pages: who may frame the console (e.g. the CRM's
    # origin "https://crm.example.com"). "'none'" forbids framing.
    "CRM_PAY_FRAME_ANCESTORS": "'self'",
    # Hard ceiling: consecutive wrong passwords before the account is locked in the
    # database, and for how long. Deliberately high: the progressive delays below are
    # the everyday defence; this backstop holds when their storage is down (fail open)
    # and stops a slow guesser spread over many addresses (docs/security/throttling.md).
    "CRM_PAY_LOGIN_MAX_FAILURES": 100,
    "CRM_PAY_LOGIN_LOCK_SECONDS": 15 * 60,
    # --- rate limits (crm_pay.rate_limits) ---
    # "memory://" (per process) or "redis://host:6379/<db>" (shared by every process).
    "CRM_PAY_RATE_LIMIT_STORAGE": "memory://",
    # Prefix of every rate-limit key (must start with "crm_pay"); one per deployment
    # sharing a Redis.
    "CRM_PAY_RATE_LIMIT_NAMESPACE": "crm_pay",
    # Failures of one account from one IP before sign-ins wait 1, 2, 4, ... seconds.
    "CRM_PAY_LOGIN_ACCOUNT_IP_FREE_FAILURES": 5,
    # Failures of one account from all IPs before the same delays apply to it anywhere.
    "CRM_PAY_LOGIN_ACCOUNT_FREE_FAILURES": 20,
    # Longest delay, and how long a failure is remembered, in seconds.
    "CRM_PAY_LOGIN_DELAY_CAP": 15 * 60,
    "CRM_PAY_LOGIN_FAILURE_WINDOW": 60 * 60,
    # Distinct accounts failing from one IP before it waits (credential stuffing).
    "CRM_PAY_LOGIN_IP_ACCOUNTS_LIMIT": "100/10 minutes",
    # JSON API requests per API key, and per IP for requests without a valid key.
    "CRM_PAY_API_RATE_LIMIT": "600/minute",
    "CRM_PAY_API_UNAUTHENTICATED_RATE_LIMIT": "60/minute",
    # Pay page payment submissions per link and per IP.
    "CRM_PAY_PAY_SUBMIT_LINK_LIMIT": "10/minute",
    "CRM_PAY_PAY_SUBMIT_IP_LIMIT": "60/minute",
    # --- live status (agent_ui.live, crm_pay.live) ---
    # Socket.IO message queue. None: live status stays in this process. "redis://host:6379/0":
    # every web and `crm-pay worker` process shares live status through Redis.
    "CRM_PAY_SOCKETIO_MESSAGE_QUEUE": None,
    # Message-queue channel; deployments sharing one Redis each need their own.
    "CRM_PAY_SOCKETIO_CHANNEL": "crm-pay-live",
    # Origins (comma-separated) allowed to open a socket besides CRM_PAY_PUBLIC_URL's.
    "CRM_PAY_SOCKETIO_CORS_ORIGINS": "",
    # Field-validity reports a customer's pay page may send per link per minute.
    "CRM_PAY_LIVE_FIELD_EVENTS_PER_MINUTE": 60,
    # --- opening the console from a CRM (agent_ui.launch, crm_pay.services.launch) ---
    # Salesforce Canvas: the connected app's consumer secret. None: the vault secret
    # "canvas.consumer_secret".
    "CRM_PAY_SALESFORCE_CANVAS_SECRET": None,
    # Seconds a Canvas signed request's issuedAt may be from now (0: not checked).
    "CRM_PAY_SALESFORCE_CANVAS_MAX_AGE": 15 * 60,
    # Canvas custom parameter holding the customer's id; else the page's record Id.
    "CRM_PAY_SALESFORCE_CANVAS_PARAMETER": "recordId",
    # HubSpot CRM card: the app's client secret. None: the vault secret
    # "hubspot.client_secret".
    "CRM_PAY_HUBSPOT_CLIENT_SECRET": None,
    # Secret signing generic launch links (`crm-pay launch-url`). None: derived from the
    # token pepper. Changing it invalidates links already handed out.
    "CRM_PAY_LAUNCH_SECRET": None,
    # Minutes a launch link printed by `crm-pay launch-url` stays valid by default.
    "CRM_PAY_LAUNCH_LINK_MINUTES": 5,
    # Refunds by agents up to this amount (in the payment's currency); above it, and
    # always when "0", a supervisor's key or sign-in is needed.
    "CRM_PAY_AGENT_REFUND_LIMIT": "0",
    # Largest request body crm-pay's JSON API reads (bytes); above it the answer is 413.
    # Only crm-pay's own API blueprint: the host app's MAX_CONTENT_LENGTH is untouched.
    "CRM_PAY_MAX_BODY_BYTES": 64 * 1024,
    # Braintree's hosted-fields scripts (environments "sandbox"/"production"): the pinned
    # version and their Subresource Integrity hashes, {"client": "sha384-...",
    # "hosted-fields": "sha384-..."} from Braintree's release notes. Without the hashes
    # the pay page refuses to load card entry.
    "CRM_PAY_BRAINTREE_JS_VERSION": "3.111.0",
    "CRM_PAY_BRAINTREE_JS_INTEGRITY": None,
    # Seconds between checks of the pay page's scripts against their pinned hashes (the
    # worker; 0 turns the scheduled check off, `crm-pay scripts check` still works).
    "CRM_PAY_SCRIPT_CHECK_INTERVAL": 3600,
    # CSP violation reports one address may send a minute (POST {prefix}/csp-report).
    "CRM_PAY_CSP_REPORTS_PER_MINUTE": 60,
    # Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host
    # are trusted (werkzeug's ProxyFix); 0 = none (requests come straight to the app).
    "CRM_PAY_PROXY_FIX": 0,
    # Roles (comma-separated) that must sign in with a second factor (TOTP or a recovery
    # code); "" = nobody must (anyone may still enrol on the Security page). Checked at
    # start-up: an unknown role is an error. See docs/security/mfa.md.
    "CRM_PAY_MFA_REQUIRED_ROLES": "supervisor,admin",
    # Step-up: sensitive console actions (connector secret changes) need an MFA code
    # typed within this many seconds, for users who have MFA.
    "CRM_PAY_MFA_STEP_UP_SECONDS": 300,
    # Lifetime (seconds) of the signed pending-sign-in token between password and code.
    "CRM_PAY_MFA_PENDING_SECONDS": 300,
    # Security keys (WebAuthn): relying party id; empty = the host the browser used.
    # Set it (e.g. "pay.example.com") behind a proxy that rewrites the Host header.
    "CRM_PAY_WEBAUTHN_RP_ID": "",
}
