"""The one typed configuration of crm-pay: :class:`CrmPayConfig`.

Every ``CRM_PAY_*`` key is a field here, with its type, default and a one-line meaning;
``docs/configuration.md``'s table of keys is generated from these fields
(``python -m crm_pay.config --markdown``; a test fails when the two differ).

Why a frozen standard-library dataclass (not pydantic-settings): no new dependency for
a Flask extension that host apps embed, ``mypy`` sees every field's type, and the
parsing rules are few enough to state here in full. ``CrmPay.init_app`` parses
``app.config`` once with :meth:`CrmPayConfig.from_mapping`; ``crm_pay.create_app`` first
copies the ``CRM_PAY_*`` environment variables (:func:`environment_settings`) under the
same names. A value already of the field's type is taken as it is; text (as the
environment gives it) is converted by the field's type:

- ``bool``: ``1/true/yes/on`` or ``0/false/no/off/""`` (any case);
- ``int`` / ``float``: a number (``True`` is not a number);
- ``dict[str, str] | None``: a JSON object; empty text is ``None``;
- ``str``: the text unchanged (a tax id of digits stays text).

This is the only module that reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_pay.domain.errors import ConfigurationError, CrmPayError
from crm_pay.domain.receipt import format_receipt_number
from crm_pay.domain.roles import ROLES
from crm_pay.domain.three_d_secure import MODES, parse_mode
from crm_pay.rendering.message_language import MESSAGE_LANGUAGES, supported_language

__all__ = [
    "CrmPayConfig",
    "DEFAULTS",
    "KEY_PREFIX",
    "environment_instance_path",
    "environment_settings",
    "parse_setting",
    "render_markdown",
    "set_default_instance_path",
]

KEY_PREFIX = "CRM_PAY_"
# Environment variables read by create_app itself, not settings of the extension.
_ENVIRONMENT_ONLY = ("CRM_PAY_INSTANCE_PATH", "CRM_PAY_SECRET_KEY")


def setting(default: Any, group: str, doc: str) -> Any:
    """A field of :class:`CrmPayConfig`: its default, docs group and one-line meaning."""
    return field(default=default, metadata={"group": group, "doc": doc})


@dataclass(frozen=True)
class CrmPayConfig:
    """Every crm-pay setting, parsed and checked once per app.

    Field ``foo_bar`` is the key ``CRM_PAY_FOO_BAR``. Build one with
    :meth:`from_mapping`; the instance is immutable, so code that holds it (the
    context, the pages) sees the values the app started with.
    """

    # --- Core ---
    database_url: str | None = setting(
        None,
        "Core",
        ("SQLAlchemy URL"),
    )
    url_prefix: str = setting(
        "/pay",
        "Core",
        (
            "Where everything is mounted: API `{prefix}/api/v1`, pay page "
            "`{prefix}/p/<token>`, console `{prefix}/agent/`, admin `{prefix}/admin/`, "
            "receipts portal `{prefix}/r/…`, Socket.IO `{prefix}/socket.io`, PSP webhooks "
            "`{prefix}/webhooks/<psp>` (e.g. `/webhooks/braintree`), health `{prefix}/healthz`"
        ),
    )
    public_url: str = setting(
        "http://127.0.0.1:5000",
        "Core",
        ("Base URL customers reach us at"),
    )

    # --- Payment provider (Braintree) ---
    psp: str = setting(
        "braintree",
        "Payment provider (Braintree)",
        (
            "Name of the PSP adapter, looked up in the built-in registry, then in the "
            "`crm_pay.psp` entry-point group"
        ),
    )
    braintree_environment: str = setting(
        "local",
        "Payment provider (Braintree)",
        ("`local` = our development sandbox at `CRM_PAY_BRAINTREE_GATEWAY_URL`"),
    )
    braintree_gateway_url: str = setting(
        "http://127.0.0.1:8830",
        "Payment provider (Braintree)",
        ("Gateway URL of the development sandbox (only with `local`)"),
    )
    braintree_assets_url: str = setting(
        "http://127.0.0.1:8831",
        "Payment provider (Braintree)",
        ("With `local`: origin of the development sandbox's hosted-fields script"),
    )
    braintree_merchant_id: str = setting(
        "crm_pay_demo",
        "Payment provider (Braintree)",
        ("Braintree merchant id"),
    )
    braintree_public_key: str = setting(
        "demo_public_key",
        "Payment provider (Braintree)",
        ("Braintree API public key"),
    )
    braintree_private_key: str | None = setting(
        None,
        "Payment provider (Braintree)",
        ("Braintree API private key"),
    )
    braintree_merchant_accounts: dict[str, str] | None = setting(
        None,
        "Payment provider (Braintree)",
        ("Currency → Braintree merchant account id, e.g"),
    )
    braintree_merchant_account_id: str | None = setting(
        None,
        "Payment provider (Braintree)",
        (
            "The one-account case: the merchant account for every payment, in "
            "`CRM_PAY_BRAINTREE_CURRENCY`"
        ),
    )
    braintree_currency: str = setting(
        "USD",
        "Payment provider (Braintree)",
        ("Currency of `CRM_PAY_BRAINTREE_MERCHANT_ACCOUNT_ID` (or of the default account)"),
    )
    braintree_timeout: float = setting(
        20.0,
        "Payment provider (Braintree)",
        ("Seconds to wait for Braintree (connect and each read)"),
    )

    # --- CRM ---
    crm: str = setting(
        "builtin",
        "CRM",
        (
            "The **default** CRM adapter, used while no connector is enabled in the admin "
            "console: built-in registry (`builtin`), then the `crm_pay.crm` entry-point group"
        ),
    )
    builtin_crm_path: str | None = setting(
        None,
        "CRM",
        ("JSON file of the builtin CRM"),
    )
    salesforce_mapping: dict[str, str] | None = setting(
        None,
        "CRM",
        (
            "Field mapping overrides of the Salesforce connector configured from settings "
            "(a JSON object; its other settings are CRM_PAY_SALESFORCE_<NAME> text)"
        ),
    )
    outbound_allow_hosts: str = setting(
        "",
        "CRM",
        (
            "Host names (or IP addresses), separated by commas or spaces, that connectors may "
            "reach **although they resolve to private, loopback or link-local addresses**, "
            "e.g"
        ),
    )

    # --- Vault and secrets ---
    vault_keys: str | None = setting(
        None,
        "Vault and secrets",
        ("Key ring `kid:base64urlkey,kid:base64urlkey`"),
    )
    token_pepper: str | None = setting(
        None,
        "Vault and secrets",
        ("Pepper for hashing API keys and pay-link tokens (only hashes are stored)"),
    )
    audit_key: str | None = setting(
        None,
        "Vault and secrets",
        ("HMAC key of the audit hash chain (`crm-pay audit verify`)"),
    )
    dev_secrets: bool = setting(
        False,
        "Vault and secrets",
        (
            "While true, any of the three secrets above that is missing is generated once "
            "into `<instance>/dev-secrets.json` (mode 0600) and reused"
        ),
    )

    # --- Pay links ---
    pay_link_ttl: int = setting(
        15 * 60,
        "Pay links",
        ("Seconds a pay link stays open"),
    )
    pay_link_max_attempts: int = setting(
        5,
        "Pay links",
        ("Declined/failed tries per link before it is `locked`"),
    )
    failure_notice_delay: int = setting(
        600,
        "Pay links",
        (
            "Seconds after a decline before the customer is told it did not go through; a "
            "retry meanwhile restarts the wait, a success cancels it, a closed link sends at once"
        ),
    )

    # --- Receipts and merchant ---
    merchant_name: str = setting(
        "Demo Merchant Inc.",
        "Receipts and merchant",
        ("Pay page, receipts, emails (From name)"),
    )
    merchant_address: str = setting(
        "1 Example Street, Springfield",
        "Receipts and merchant",
        ("Receipts"),
    )
    merchant_email: str = setting(
        "billing@example.com",
        "Receipts and merchant",
        ("Receipts"),
    )
    merchant_phone: str = setting(
        "+15550100000",
        "Receipts and merchant",
        ("Receipts"),
    )
    merchant_tax_id: str = setting(
        "",
        "Receipts and merchant",
        ("Receipts"),
    )
    merchant_time_zone: str = setting(
        "UTC",
        "Receipts and merchant",
        (
            "IANA time zone (e.g. `Europe/London`) of the times customers read on their "
            "pages and receipts"
        ),
    )
    default_language: str = setting(
        "en",
        "Receipts and merchant",
        (
            "Language (`en`, `es`, `fr` or `de`) of the emails and text messages to a "
            "customer whose CRM record names no language, or one they are not written in"
        ),
    )
    receipt_prefix: str = setting(
        "R",
        "Receipts and merchant",
        (
            "Receipt numbers are `{prefix}-{year}-{6-digit sequence}`, gapless per prefix and "
            "year (payment and refund receipts share the sequence)"
        ),
    )

    # --- Outbox and background workers ---
    outbox_max_attempts: int = setting(
        10,
        "Outbox and background workers",
        ("Delivery attempts before an outbox message is dead-lettered"),
    )
    unknown_window: int = setting(
        1800,
        "Outbox and background workers",
        (
            "Seconds a payment may stay `unknown` while the PSP answers the janitor's search "
            "with no sale for the attempt"
        ),
    )
    settlement_poll_interval: int = setting(
        600,
        "Outbox and background workers",
        (
            "Seconds between settlement checks of one approved, unsettled payment (cards "
            "settle in Braintree's nightly batch with no webhook, so the janitor asks)"
        ),
    )

    # --- Messaging (email and SMS) ---
    email_sender: str = setting(
        "file",
        "Messaging (email and SMS)",
        (
            "`file`: each email is written as an RFC 5322 `.eml` file into "
            "`CRM_PAY_MAILBOX_PATH` (shown at `{prefix}/demo/mailbox` in demo mode)"
        ),
    )
    mailbox_path: str | None = setting(
        None,
        "Messaging (email and SMS)",
        ("Folder of the file mailbox"),
    )
    smtp_host: str | None = setting(
        None,
        "Messaging (email and SMS)",
        ("SMTP server"),
    )
    smtp_port: int = setting(
        587,
        "Messaging (email and SMS)",
        "SMTP port (587 with STARTTLS, 465 with `CRM_PAY_SMTP_SSL`)",
    )
    smtp_username: str | None = setting(
        None,
        "Messaging (email and SMS)",
        ("Login"),
    )
    smtp_password: str | None = setting(
        None,
        "Messaging (email and SMS)",
        ("With a username and no value here, read from the vault secret `smtp.password`"),
    )
    smtp_starttls: bool = setting(
        True,
        "Messaging (email and SMS)",
        ("Upgrade a plain connection with STARTTLS (fails if the server cannot)"),
    )
    smtp_ssl: bool = setting(
        False,
        "Messaging (email and SMS)",
        ("Implicit TLS (port 465) instead of STARTTLS"),
    )
    smtp_timeout: float = setting(
        30.0,
        "Messaging (email and SMS)",
        ("Seconds per SMTP connection"),
    )
    email_from: str | None = setting(
        None,
        "Messaging (email and SMS)",
        ("From header of customer emails"),
    )
    sms_sender: str = setting(
        "file",
        "Messaging (email and SMS)",
        (
            "`file`: one JSON file per text message in `CRM_PAY_SMS_OUTBOX_PATH` (also shown "
            "by the demo mailbox viewer)"
        ),
    )
    sms_outbox_path: str | None = setting(
        None,
        "Messaging (email and SMS)",
        ("Folder of the file SMS outbox"),
    )

    # --- Receipts and merchant ---
    receipt_link_ttl: float = setting(
        90.0,
        "Receipts and merchant",
        (
            "Days the signed receipts-portal link in a receipt email keeps working (then the "
            "page answers 410 and says how to get the receipt again)"
        ),
    )

    # --- Outbox and background workers ---
    background_workers: bool = setting(
        False,
        "Outbox and background workers",
        (
            "Run the outbox dispatcher (every 1 s, woken at once when a message is queued) "
            "and the janitor (every 15 s) as threads inside the web process"
        ),
    )

    # --- Core ---
    auto_migrate: bool = setting(
        False,
        "Core",
        ("Apply Alembic migrations when the app starts"),
    )
    demo: bool = setting(
        False,
        "Core",
        (
            "Demo mode: mounts the mailbox viewer at `{prefix}/demo/mailbox` (every email and "
            'SMS crm-pay "sent", readable without signing in)'
        ),
    )

    # --- Agent console: sign-in, sessions, security ---
    allow_agent_keyed: bool = setting(
        False,
        "Agent console: sign-in, sessions, security",
        ("Agent-keyed (MOTO) card entry brings the agent desktop into PCI scope"),
    )
    secure_cookies: bool = setting(
        True,
        "Agent console: sign-in, sessions, security",
        (
            "crm-pay's console cookie (`CRM_PAY_SESSION_COOKIE_NAME`) is sent over HTTPS only "
            "(`Secure`"
        ),
    )
    session_samesite: str = setting(
        "Lax",
        "Agent console: sign-in, sessions, security",
        ("`SameSite` of crm-pay's console cookie"),
    )
    session_cookie_name: str = setting(
        "crm_pay_session",
        "Agent console: sign-in, sessions, security",
        (
            "Name of crm-pay's own console cookie (`Path` = `CRM_PAY_URL_PREFIX`, signed with "
            "a key derived from `CRM_PAY_TOKEN_PEPPER`): session id, session generation, CSRF "
            "token and one-page notices"
        ),
    )
    idle_timeout: int = setting(
        15 * 60,
        "Agent console: sign-in, sessions, security",
        (
            "Seconds without a console request or live-status message after which the agent's "
            "session ends (with a message saying why)"
        ),
    )
    session_max_age: int = setting(
        12 * 60 * 60,
        "Agent console: sign-in, sessions, security",
        ("Seconds a console sign-in lasts at most, however active the agent is"),
    )
    frame_ancestors: str = setting(
        "'self'",
        "Agent console: sign-in, sessions, security",
        (
            "CSP `frame-ancestors` of console, admin and launch pages: who may frame the "
            "console, e.g"
        ),
    )
    login_max_failures: int = setting(
        100,
        "Agent console: sign-in, sessions, security",
        (
            "Hard ceiling: consecutive wrong passwords (counted in the database, across every "
            "process) before the account is locked"
        ),
    )
    login_lock_seconds: int = setting(
        15 * 60,
        "Agent console: sign-in, sessions, security",
        ("How long that lock lasts"),
    )
    rate_limit_storage: str = setting(
        "memory://",
        "Agent console: sign-in, sessions, security",
        (
            "Where sign-in delays and rate limits are counted (the `limits` library's storage "
            "URL): `memory://` is this process only"
        ),
    )
    rate_limit_namespace: str = setting(
        "crm_pay",
        "Agent console: sign-in, sessions, security",
        ("Prefix of every rate-limit key in Redis (must start with `crm_pay`)"),
    )
    login_account_ip_free_failures: int = setting(
        5,
        "Agent console: sign-in, sessions, security",
        (
            "Failed sign-ins of one account from one client IP before each further try waits "
            "1, 2, 4,"
        ),
    )
    login_account_free_failures: int = setting(
        20,
        "Agent console: sign-in, sessions, security",
        (
            "Failed sign-ins of one account from all IPs before the same delays apply to that "
            "account from anywhere"
        ),
    )
    login_delay_cap: int = setting(
        15 * 60,
        "Agent console: sign-in, sessions, security",
        ("Longest delay, in seconds"),
    )
    login_failure_window: int = setting(
        60 * 60,
        "Agent console: sign-in, sessions, security",
        ("Seconds a failure is remembered (counted from the first of a series)"),
    )
    login_ip_accounts_limit: str = setting(
        "100/10 minutes",
        "Agent console: sign-in, sessions, security",
        (
            "Distinct accounts failing from one IP before that IP waits for the rest of the "
            "window (credential stuffing)"
        ),
    )
    api_rate_limit: str = setting(
        "600/minute",
        "Agent console: sign-in, sessions, security",
        ("JSON API requests per API key"),
    )
    api_unauthenticated_rate_limit: str = setting(
        "60/minute",
        "Agent console: sign-in, sessions, security",
        ("API requests without a valid key (missing, wrong or revoked), per client IP"),
    )
    pay_submit_link_limit: str = setting(
        "10/minute",
        "Agent console: sign-in, sessions, security",
        ("Payment submissions (`POST {prefix}/p/<token>/pay`) per pay link"),
    )
    pay_submit_ip_limit: str = setting(
        "60/minute",
        "Agent console: sign-in, sessions, security",
        ("The same, per client IP across links"),
    )

    # --- Live status (Socket.IO) ---
    socketio_message_queue: str | None = setting(
        None,
        "Live status (Socket.IO)",
        ("`None`: live status stays in this process (fine for the demo: one process, threads)"),
    )
    socketio_channel: str = setting(
        "crm-pay-live",
        "Live status (Socket.IO)",
        ("Message-queue channel"),
    )
    socketio_cors_origins: str = setting(
        "",
        "Live status (Socket.IO)",
        ("Comma-separated origins allowed to open a socket besides `CRM_PAY_PUBLIC_URL`'s"),
    )
    live_field_events_per_minute: int = setting(
        60,
        "Live status (Socket.IO)",
        (
            "Field-validity reports (`POST {prefix}/p/<token>/events`) a customer's pay page "
            "may send per link per minute (counted in `CRM_PAY_RATE_LIMIT_STORAGE`)"
        ),
    )

    # --- Admin and embedding in a CRM ---
    salesforce_canvas_secret: str | None = setting(
        None,
        "Admin and embedding in a CRM",
        (
            "Consumer secret of the Salesforce connected app that verifies Canvas "
            "`signed_request`s (`POST {prefix}/agent/launch/salesforce`)"
        ),
    )
    salesforce_canvas_max_age: int = setting(
        15 * 60,
        "Admin and embedding in a CRM",
        ("Seconds a Canvas signed request's `issuedAt` may be from now (`0`: not checked)"),
    )
    salesforce_canvas_parameter: str = setting(
        "recordId",
        "Admin and embedding in a CRM",
        ("Canvas custom parameter holding the customer's id"),
    )
    hubspot_client_secret: str | None = setting(
        None,
        "Admin and embedding in a CRM",
        (
            "The HubSpot app's client secret, verifying CRM-card requests (`GET "
            "{prefix}/agent/launch/hubspot`, signature v3)"
        ),
    )
    launch_secret: str | None = setting(
        None,
        "Admin and embedding in a CRM",
        (
            "Key signing generic launch links (`crm-pay launch-url`, `GET "
            "{prefix}/agent/launch/link`)"
        ),
    )
    launch_link_minutes: int = setting(
        5,
        "Admin and embedding in a CRM",
        (
            "Default validity of a link printed by `crm-pay launch-url` (`--minutes` "
            "overrides, 1–1440)"
        ),
    )

    # --- Refunds ---
    agent_refund_limit: str = setting(
        "0",
        "Refunds",
        (
            "Amount, in the payment's currency, up to which an **agent** API key may refund "
            "or void (`POST /payments/{id}/refund`)"
        ),
    )
    approval_ttl_hours: int = setting(
        72,
        "Refunds",
        (
            "Hours a four-eyes approval request (an agent's refund above the limit, a "
            "manual payment, a write-off or adjustment) waits for a supervisor before it "
            "expires and can no longer be approved"
        ),
    )

    # --- Reminders and satisfaction surveys ---
    reminder_interval: int = setting(
        300,
        "Reminders and satisfaction surveys",
        (
            "Seconds between two passes of the worker over the reminder rules (each pass "
            "sends what is due and not yet sent; quiet hours are those of each rule)"
        ),
    )
    csat: bool = setting(
        False,
        "Reminders and satisfaction surveys",
        (
            "While true, a payment's receipt email carries a link to a one-question "
            "satisfaction survey (`{prefix}/survey/<token>`)"
        ),
    )
    csat_link_ttl_days: int = setting(
        30,
        "Reminders and satisfaction surveys",
        ("Days a survey link in a receipt email can be answered"),
    )

    # --- Core ---
    max_body_bytes: int = setting(
        64 * 1024,
        "Core",
        ("Largest request body the JSON API (`{prefix}/api/v1`) reads"),
    )

    # --- Payment provider (Braintree) ---
    three_d_secure: str = setting(
        "off",
        "Payment provider (Braintree)",
        (
            "3-D Secure (the cardholder's bank's check, SCA) on the pay page: `off`, "
            "`attempt` (the check runs; the payment goes ahead whatever it gave) or "
            "`required` (a card payment is charged only with a liability shift); the same "
            "for every currency unless `CRM_PAY_THREE_D_SECURE_BY_CURRENCY` says otherwise. "
            "Card-on-file payments the agent takes are mail/telephone orders, outside SCA"
        ),
    )
    three_d_secure_by_currency: dict[str, str] | None = setting(
        None,
        "Payment provider (Braintree)",
        (
            "Per merchant account: currency → `off`/`attempt`/`required`, e.g. "
            '`{"EUR": "required", "GBP": "required"}`'
        ),
    )
    braintree_js_source: str = setting(
        "",
        "Payment provider (Braintree)",
        (
            "Where the pay page's Braintree client (braintree-web) comes from: `bundled` "
            "(served by crm-pay from the copy `make install` takes from the npm lock file, "
            "SRI from the file; the default with `sandbox`/`production`), `cdn` "
            "(`js.braintreegateway.com` at `CRM_PAY_BRAINTREE_JS_VERSION`, pinned by "
            "`CRM_PAY_BRAINTREE_JS_INTEGRITY`) or `stand-in` (the development sandbox's "
            "stand-in; the default with `local`)"
        ),
    )
    braintree_js_version: str = setting(
        "3.144.0",
        "Payment provider (Braintree)",
        (
            "With `CRM_PAY_BRAINTREE_JS_SOURCE=cdn`: the version of Braintree's scripts "
            "loaded from `js.braintreegateway.com`"
        ),
    )
    braintree_js_integrity: dict[str, str] | None = setting(
        None,
        "Payment provider (Braintree)",
        (
            'With `cdn`: Subresource Integrity hashes of those scripts, `{"client": '
            '"sha384-…", "hosted-fields": "sha384-…", "data-collector": "sha384-…", '
            '"three-d-secure": "sha384-…"}` (the hashes of the files of that version)'
        ),
    )
    apple_pay_domain_association: str = setting(
        "",
        "Payment provider (Braintree)",
        (
            "Path of Apple Pay's domain association file (Braintree Control Panel: "
            "Settings → Processing → Apple Pay → your domain): crm-pay then serves it at "
            "the host app's root, `/.well-known/apple-developer-merchantid-domain-"
            "association`, and nothing there while empty (read at start-up; a missing "
            "file stops it)"
        ),
    )
    script_check_interval: int = setting(
        60 * 60,
        "Payment provider (Braintree)",
        (
            "Seconds between the worker's checks of the pay page's scripts against their "
            "pinned SRI hashes (each external script fetched again, our own read from disk"
        ),
    )
    csp_reports_per_minute: int = setting(
        60,
        "Payment provider (Braintree)",
        (
            "CSP violation reports one client address may send per minute to `POST "
            "{prefix}/csp-report` (counted in `CRM_PAY_RATE_LIMIT_STORAGE`)"
        ),
    )

    # --- Core ---
    proxy_fix: int = setting(
        0,
        "Core",
        (
            "How many reverse proxies in front of the app to trust for "
            "`X-Forwarded-For`/`-Proto`/`-Host` (werkzeug's ProxyFix)"
        ),
    )

    # --- Metrics ---
    metrics_token: str | None = setting(
        None,
        "Metrics",
        (
            "Bearer token a Prometheus scrape of `{prefix}/metrics` must send "
            "(`Authorization: Bearer …`); unset and no `CRM_PAY_METRICS_ALLOW`: the "
            "endpoint answers 404"
        ),
    )
    metrics_allow: str = setting(
        "",
        "Metrics",
        (
            "Comma-separated networks (CIDR, e.g. `10.0.0.0/8,127.0.0.1/32`) whose scrapes "
            "of `{prefix}/metrics` are answered; with a token too, both must match"
        ),
    )

    # --- Agent console: sign-in, sessions, security ---
    mfa_required_roles: str = setting(
        "supervisor,admin",
        "Agent console: sign-in, sessions, security",
        ("Roles that must sign in with a second factor (authenticator app code or recovery code)"),
    )
    mfa_step_up_seconds: int = setting(
        300,
        "Agent console: sign-in, sessions, security",
        (
            "A user with MFA who saves a CRM connector with a typed secret, or refunds more "
            "than `CRM_PAY_AGENT_REFUND_LIMIT` from the console, must have typed a code "
            "within this many seconds in this session"
        ),
    )
    mfa_pending_seconds: int = setting(
        300,
        "Agent console: sign-in, sessions, security",
        (
            "Lifetime of the signed token that carries a sign-in from the password to the "
            "code/enrolment page"
        ),
    )
    webauthn_rp_id: str = setting(
        "",
        "Agent console: sign-in, sessions, security",
        (
            'Relying party id of security keys (WebAuthn): `""` = the host name the browser '
            "used (port dropped)"
        ),
    )

    # --- Telephony (Twilio) ---
    twilio_account_sid: str | None = setting(
        None,
        "Telephony (Twilio)",
        (
            "Twilio account SID (`AC…`) for keypad payments (agent-assisted Pay); unset: "
            "no keypad payments. The auth token is kept in the vault as "
            "`telephony.twilio.auth_token`, never in the configuration"
        ),
    )
    twilio_base_url: str | None = setting(
        None,
        "Telephony (Twilio)",
        (
            "Where the Twilio SDK sends its REST calls: unset = `https://api.twilio.com`; "
            "in development the telephony stand-in "
            "(`python -m connectors.telephony.twilio_sandbox`, e.g. `http://127.0.0.1:8840`)"
        ),
    )
    twilio_pay_connector: str = setting(
        "Default",
        "Telephony (Twilio)",
        (
            "Unique name of the Braintree Pay Connector installed in the Twilio console "
            "(Twilio's default name is `Default`); it tokenizes the keyed card, crm-pay "
            "charges the token. Status callbacks arrive at "
            "`{public_url}{prefix}/telephony/twilio/status`"
        ),
    )

    @classmethod
    def keys(cls) -> dict[str, dataclasses.Field[Any]]:
        """``CRM_PAY_*`` key -> its field, in declaration order."""
        return {KEY_PREFIX + f.name.upper(): f for f in dataclasses.fields(cls)}

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> CrmPayConfig:
        """Parse and check the ``CRM_PAY_*`` keys of ``mapping`` (e.g. ``app.config``);
        missing keys take their defaults, other keys are ignored.
        ``ConfigurationError`` says which key is wrong and how to fix it."""
        values = {
            f.name: _convert(key, _field_type(f), mapping[key])
            for key, f in cls.keys().items()
            if key in mapping
        }
        config = cls(**values)
        config.validate()
        return config

    def as_mapping(self) -> dict[str, Any]:
        """Every key with its parsed value (what ``init_app`` writes back to
        ``app.config``, so the host app sees the typed values too)."""
        return {key: getattr(self, f.name) for key, f in self.keys().items()}

    def three_d_secure_for(self, currency: str) -> str:
        """The 3-D Secure rule for payments in ``currency`` (see ``CRM_PAY_THREE_D_SECURE``)."""
        by_currency = {k.upper(): v for k, v in (self.three_d_secure_by_currency or {}).items()}
        chosen = by_currency.get(currency.upper(), self.three_d_secure)
        return parse_mode(chosen) or "off"

    def validate(self) -> None:
        """Checks of single values and combinations that would otherwise fail late."""
        for where, value in [
            ("CRM_PAY_THREE_D_SECURE", self.three_d_secure),
            *(
                (f"CRM_PAY_THREE_D_SECURE_BY_CURRENCY[{k!r}]", v)
                for k, v in (self.three_d_secure_by_currency or {}).items()
            ),
        ]:
            if parse_mode(value) is None:
                raise ConfigurationError(
                    f"{where}={value!r}: use one of {', '.join(MODES)} (3-D Secure on the "
                    "pay page: off, attempt, or required for a liability shift)"
                )
        try:
            self.metrics_networks  # noqa: B018 - parsed here to fail at start-up
        except ValueError as exc:
            raise ConfigurationError(
                f"CRM_PAY_METRICS_ALLOW={self.metrics_allow!r}: {exc}; use comma-separated "
                "networks such as 10.0.0.0/8,127.0.0.1/32"
            ) from None
        prefix = self.url_prefix.rstrip("/")
        if prefix and not prefix.startswith("/"):
            raise ConfigurationError("CRM_PAY_URL_PREFIX must start with '/', e.g. '/pay'")
        try:
            format_receipt_number(2000, 1, self.receipt_prefix)
        except CrmPayError as exc:
            raise ConfigurationError(
                f"CRM_PAY_RECEIPT_PREFIX={self.receipt_prefix!r}: {exc.message}"
            ) from None
        unknown = sorted(self.mfa_roles - set(ROLES))
        if unknown:
            raise ConfigurationError(
                f"CRM_PAY_MFA_REQUIRED_ROLES has unknown role(s) {', '.join(unknown)}; "
                f"use a comma-separated list of {', '.join(ROLES)} (or empty for nobody)"
            )
        try:
            self.time_zone  # noqa: B018 - parsed here to fail at start-up
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(
                f"CRM_PAY_MERCHANT_TIME_ZONE={self.merchant_time_zone!r} is not a time zone "
                "this machine knows: use an IANA name such as Europe/London or America/New_York"
            ) from None
        if supported_language(self.default_language) != self.default_language:
            raise ConfigurationError(
                f"CRM_PAY_DEFAULT_LANGUAGE={self.default_language!r}: use one of "
                f"{', '.join(MESSAGE_LANGUAGES)} (the languages customer messages are "
                "written in; default en)"
            )
        if self.max_body_bytes < 1024:
            raise ConfigurationError(
                f"CRM_PAY_MAX_BODY_BYTES={self.max_body_bytes!r}: use a whole number of bytes "
                "of at least 1024 (default 65536)"
            )
        if self.failure_notice_delay < 0:
            raise ConfigurationError(
                f"CRM_PAY_FAILURE_NOTICE_DELAY={self.failure_notice_delay!r}: use a whole "
                "number of seconds, 0 or more (0 tells the customer at once; default 600)"
            )
        for name in ("unknown_window", "settlement_poll_interval", "reminder_interval"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(
                    f"{KEY_PREFIX}{name.upper()}={getattr(self, name)!r}: use a whole number "
                    "of seconds above 0"
                )
        if self.csat_link_ttl_days < 1:
            raise ConfigurationError(
                f"CRM_PAY_CSAT_LINK_TTL_DAYS={self.csat_link_ttl_days!r}: use a whole number "
                "of days of at least 1 (default 30)"
            )
        if self.approval_ttl_hours < 1:
            raise ConfigurationError(
                f"CRM_PAY_APPROVAL_TTL_HOURS={self.approval_ttl_hours!r}: use a whole number "
                "of hours of at least 1 (default 72)"
            )

    @property
    def time_zone(self) -> ZoneInfo:
        """:attr:`merchant_time_zone` as a time zone."""
        return ZoneInfo(self.merchant_time_zone)

    @property
    def metrics_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``metrics_allow`` parsed (``validate`` has refused what does not parse)."""
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in self.metrics_allow.split(",")
            if part.strip()
        )

    @property
    def mfa_roles(self) -> frozenset[str]:
        """``mfa_required_roles`` ("supervisor,admin"; "" = nobody) as a set of roles."""
        return frozenset(
            part.strip().lower() for part in self.mfa_required_roles.split(",") if part.strip()
        )

    @property
    def prefix(self) -> str:
        """``url_prefix`` without its trailing slash ("" when mounted at the root)."""
        return self.url_prefix.rstrip("/")


DEFAULTS: dict[str, Any] = {key: f.default for key, f in CrmPayConfig.keys().items()}
"""Every key with its default (the same values as the dataclass's fields)."""


def _field_type(f: dataclasses.Field[Any]) -> Any:
    return typing.get_type_hints(CrmPayConfig)[f.name]


def _convert(key: str, kind: Any, value: Any) -> Any:
    optional = False
    if isinstance(kind, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        optional, kind = True, args[0]
    if value is None:
        if optional:
            return None
        raise ConfigurationError(f"{key} may not be None: remove it to get the default")
    origin = typing.get_origin(kind)
    if origin is dict:
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                value = json.loads(value)
            except ValueError:
                value = None
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                f"{key} must be a JSON object of text to text, e.g. "
                '{"USD": "acme_usd", "GBP": "acme_gbp"}'
            )
        return dict(value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigurationError(f"{key}={value!r}: use true or false")
    if kind in (int, float):
        if isinstance(value, bool):
            raise ConfigurationError(f"{key}={value!r}: use a number, not true/false")
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ConfigurationError(f"{key}={value!r}: use a whole number")
        try:
            return kind(value) if not isinstance(value, str) else kind(value.strip())
        except (TypeError, ValueError):
            whole = "a whole number" if kind is int else "a number"
            raise ConfigurationError(f"{key}={value!r} is not a number: use {whole}") from None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigurationError(f"{key}={value!r}: use text")
    return str(value)


def parse_setting(key: str, text: str) -> Any:
    """One key's value from text, typed like its field (an environment variable)."""
    f = CrmPayConfig.keys().get(key)
    if f is None:
        return text
    return _convert(key, _field_type(f), text)


def environment_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every ``CRM_PAY_*`` environment variable that is a setting (text, unparsed:
    :meth:`CrmPayConfig.from_mapping` types them), plus unknown ``CRM_PAY_*`` names a
    connector may read (e.g. ``CRM_PAY_SALESFORCE_MAPPING``)."""
    source = os.environ if environ is None else environ
    return {
        key: value
        for key, value in source.items()
        if key.startswith(KEY_PREFIX) and key not in _ENVIRONMENT_ONLY
    }


def environment_instance_path() -> str | None:
    """``CRM_PAY_INSTANCE_PATH`` (the standalone app's instance folder), if set."""
    return os.environ.get("CRM_PAY_INSTANCE_PATH") or None


def environment_secret_key() -> str | None:
    """``CRM_PAY_SECRET_KEY`` (Flask's ``SECRET_KEY`` of the standalone app), if set."""
    return os.environ.get("CRM_PAY_SECRET_KEY") or None


def set_default_instance_path(path: str) -> None:
    """``CRM_PAY_INSTANCE_PATH`` for this process and its children, unless already set
    (the ``crm-pay`` program; ``crm-pay serve``'s workers build their app from it)."""
    os.environ.setdefault("CRM_PAY_INSTANCE_PATH", path)


BEGIN_MARKER = "<!-- generated by `python -m crm_pay.config --markdown`: begin -->"
END_MARKER = "<!-- generated by `python -m crm_pay.config --markdown`: end -->"


def _type_name(kind: Any) -> str:
    return str(kind).replace("typing.", "") if not isinstance(kind, type) else kind.__name__


def render_markdown() -> str:
    """The generated part of docs/configuration.md: every key, grouped, with its type,
    default and one-line meaning, between the two markers."""
    lines = [BEGIN_MARKER, ""]
    group = None
    for key, f in CrmPayConfig.keys().items():
        if f.metadata["group"] != group:
            group = f.metadata["group"]
            if len(lines) > 2:
                lines.append("")
            lines += [
                f"#### {group}",
                "",
                "| Key | Type | Default | Meaning |",
                "|---|---|---|---|",
            ]
        default = "`None`" if f.default is None else f"`{f.default!r}`"
        doc = str(f.metadata["doc"]).replace("|", "\\|")
        kind = _type_name(_field_type(f)).replace("|", "\\|")
        lines.append(f"| `{key}` | `{kind}` | {default} | {doc} |")
    lines += ["", END_MARKER]
    return "\n".join(lines) + "\n"


def splice_markdown(document: str) -> str:
    """``document`` with the text between the markers replaced by :func:`render_markdown`."""
    start = document.index(BEGIN_MARKER)
    end = document.index(END_MARKER) + len(END_MARKER) + 1
    return document[:start] + render_markdown() + document[end:]


if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        sys.stdout.write(render_markdown())
    elif sys.argv[1:] == ["--write", "docs/configuration.md"]:
        path = sys.argv[2]
        with open(path, encoding="utf-8") as fh:
            text = splice_markdown(fh.read())
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.exit("usage: python -m crm_pay.config --markdown | --write docs/configuration.md")
