"""The one place that chooses concrete adapters, by name.

Third-party packages add adapters through entry points: group ``crm_pay.psp``,
``crm_pay.crm``, ``crm_pay.email`` or ``crm_pay.sms``, each entry a factory
``factory(config: Mapping, *, instance_path: str, secret: Callable[[str], str | None])
-> adapter``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
import time
from collections.abc import Callable, Mapping
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.exc import SQLAlchemyError

from connectors.crm import BuiltinCrm
from connectors.crm.hubspot import verify_hubspot_signature_v3
from connectors.messaging import FileMailbox, FileSmsOutbox, SmtpSender
from connectors.outbound import OutboundPolicy, guarded_session, policy_from_config
from connectors.psp.braintree import BraintreeGateway, card_entry_for, check_merchant_accounts
from connectors.psp.braintree_sandbox import SandboxConfig
from connectors.telephony.twilio import TwilioKeypadCapture
from crm_pay.domain.errors import ConfigurationError
from crm_pay.ports import CrmConnector, EmailSender, KeypadCapturePort, PaymentGateway, SmsSender
from crm_pay.services import crm_settings
from crm_pay.services.crm_settings import ConnectorKind

__all__ = [
    "braintree_merchant_accounts",
    "braintree_psp",
    "builtin_crm",
    "file_mailbox",
    "smtp_email",
    "file_sms",
    "twilio_keypad",
    "load_psp",
    "load_crm",
    "load_email_sender",
    "load_sms_sender",
    "launch_verifiers",
    "script_fetcher",
    "CallObserver",
    "observed",
]

SecretLookup = Callable[[str], "str | None"]
#: observer(adapter, method, seconds, error): one call through an adapter proxy (the
#: metrics endpoint times PSP calls and counts CRM failures with it).
CallObserver = Callable[[Any, str, float, "BaseException | None"], None]
# A pay-page script is a few hundred KiB at most; more is not the script we pinned.
_MAX_SCRIPT_BYTES = 5 * 1024 * 1024


def script_fetcher(config: Mapping[str, Any]) -> Callable[..., bytes]:
    """How the pay page's script check fetches an external script:
    ``fetch(url, *, development=False) -> bytes``, through the outbound URL policy
    (``CRM_PAY_OUTBOUND_ALLOW_HOSTS``; loopback in demo mode and tests). A script its
    PSP adapter marks ``development`` (a sandbox's stand-in on this machine) may also
    be fetched from its own host over loopback. Raises when the answer is not 200 or
    is larger than any script we would pin."""
    base = policy_from_config(config)
    timeout = float(config.get("CRM_PAY_BRAINTREE_TIMEOUT") or 20.0)

    def fetch(url: str, *, development: bool = False) -> bytes:
        policy = base
        if development:
            host = urlsplit(url).hostname or ""
            policy = OutboundPolicy(allow_hosts=base.allow_hosts | {host}, allow_loopback=True)
        policy.check_url(url, setting=f"script {url}")
        with guarded_session(policy) as session:
            resp = session.get(url, timeout=timeout, stream=True)
            if resp.status_code != 200:
                raise RuntimeError(f"{url} answered HTTP {resp.status_code}")
            body = resp.raw.read(_MAX_SCRIPT_BYTES + 1, decode_content=True)
        if len(body) > _MAX_SCRIPT_BYTES:
            raise RuntimeError(f"{url} is larger than {_MAX_SCRIPT_BYTES} bytes")
        return bytes(body)

    return fetch


def _sandbox_merchant_accounts() -> dict[str, str | None]:
    """The development sandbox's merchant accounts, as currency -> account id."""
    return {currency: account for account, currency in SandboxConfig().merchant_accounts.items()}


def braintree_merchant_accounts(config: Mapping[str, Any]) -> dict[str, str | None]:
    """Currency -> Braintree merchant account id, validated (``ConfigurationError``).

    ``CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS`` (a dict, or a JSON object string as an
    environment variable gives it) wins; else the one account
    ``CRM_PAY_BRAINTREE_MERCHANT_ACCOUNT_ID`` in ``CRM_PAY_BRAINTREE_CURRENCY``; else, for
    the local development sandbox, the sandbox's own accounts, so the demo takes every
    currency the sandbox has; else the merchant's default account in
    ``CRM_PAY_BRAINTREE_CURRENCY``. Cheap and offline: call it at start-up to fail early.
    """
    raw = config.get("CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS")
    single = config.get("CRM_PAY_BRAINTREE_MERCHANT_ACCOUNT_ID") or None
    currency = config.get("CRM_PAY_BRAINTREE_CURRENCY") or "USD"
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else None
        except ValueError:
            raw = []  # reported below, with the expected shape
    if raw is not None:
        if not isinstance(raw, Mapping):
            raise ConfigurationError(
                "CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS must be a JSON object of currency to "
                'merchant account id, e.g. {"USD": "acme_usd", "GBP": "acme_gbp"}'
            )
        if single:
            raise ConfigurationError(
                "set CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS or CRM_PAY_BRAINTREE_MERCHANT_ACCOUNT_ID,"
                " not both (the first lists every account, the second is the one-account case)"
            )
        accounts: Mapping[str, str | None] = raw
    elif single is None and config.get("CRM_PAY_BRAINTREE_ENVIRONMENT", "local") == "local":
        accounts = _sandbox_merchant_accounts()
    else:
        accounts = {currency: single}
    try:
        return check_merchant_accounts(accounts)
    except ConfigurationError as exc:
        source = (
            "CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS"
            if raw is not None
            else "CRM_PAY_BRAINTREE_MERCHANT_ACCOUNT_ID / CRM_PAY_BRAINTREE_CURRENCY"
        )
        raise ConfigurationError(f"{source}: {exc.message}") from None


def braintree_psp(
    config: Mapping[str, Any], *, instance_path: str, secret: SecretLookup
) -> PaymentGateway:
    accounts = braintree_merchant_accounts(config)
    private_key = config.get("CRM_PAY_BRAINTREE_PRIVATE_KEY") or secret("psp.braintree.private_key")
    if not private_key:
        raise ConfigurationError(
            "no Braintree private key: set CRM_PAY_BRAINTREE_PRIVATE_KEY or store it in the "
            "vault as 'psp.braintree.private_key' (crm-pay demo does this for the sandbox)"
        )
    common = {
        "merchant_id": config["CRM_PAY_BRAINTREE_MERCHANT_ID"],
        "public_key": config["CRM_PAY_BRAINTREE_PUBLIC_KEY"],
        "private_key": private_key,
        "merchant_accounts": accounts,
        "timeout": float(config.get("CRM_PAY_BRAINTREE_TIMEOUT") or 20.0),
    }
    env = config.get("CRM_PAY_BRAINTREE_ENVIRONMENT", "local")
    # The pay page's hosted fields (scripts with their SRI pins, CSP origins).
    common["card_entry"] = card_entry_for(
        str(env),
        source=str(config.get("CRM_PAY_BRAINTREE_JS_SOURCE") or ""),
        assets_url=str(
            config.get("CRM_PAY_BRAINTREE_ASSETS_URL") or config["CRM_PAY_BRAINTREE_GATEWAY_URL"]
        ),
        js_version=str(config.get("CRM_PAY_BRAINTREE_JS_VERSION") or ""),
        js_integrity=config.get("CRM_PAY_BRAINTREE_JS_INTEGRITY"),
    )
    if env == "local":
        return BraintreeGateway.for_local_sandbox(
            config["CRM_PAY_BRAINTREE_GATEWAY_URL"],
            assets_url=config.get("CRM_PAY_BRAINTREE_ASSETS_URL") or None,
            **common,
        )
    if env not in ("sandbox", "production"):
        raise ConfigurationError(
            f"CRM_PAY_BRAINTREE_ENVIRONMENT={env!r}: use 'local', 'sandbox' or 'production'"
        )
    return BraintreeGateway(environment=env, **common)


def builtin_crm(
    config: Mapping[str, Any], *, instance_path: str, secret: SecretLookup
) -> CrmConnector:
    path = config.get("CRM_PAY_BUILTIN_CRM_PATH") or str(Path(instance_path) / "crm.json")
    return BuiltinCrm(Path(path))


def file_mailbox(
    config: Mapping[str, Any], *, instance_path: str, secret: SecretLookup
) -> EmailSender:
    path = config.get("CRM_PAY_MAILBOX_PATH") or str(Path(instance_path) / "mailbox")
    return FileMailbox(path)


def smtp_email(
    config: Mapping[str, Any], *, instance_path: str, secret: SecretLookup
) -> EmailSender:
    host = config.get("CRM_PAY_SMTP_HOST")
    if not host:
        raise ConfigurationError(
            "CRM_PAY_EMAIL_SENDER='smtp' needs CRM_PAY_SMTP_HOST (and usually "
            "CRM_PAY_SMTP_USERNAME with a password in CRM_PAY_SMTP_PASSWORD or the vault "
            "secret 'smtp.password')"
        )
    username = config.get("CRM_PAY_SMTP_USERNAME") or None
    password = config.get("CRM_PAY_SMTP_PASSWORD") or (
        secret("smtp.password") if username else None
    )
    if username and not password:
        raise ConfigurationError(
            "CRM_PAY_SMTP_USERNAME is set but no password: set CRM_PAY_SMTP_PASSWORD or store "
            "it in the vault as 'smtp.password'"
        )
    return SmtpSender(
        host,
        port=int(config.get("CRM_PAY_SMTP_PORT") or 587),
        username=username,
        password=password,
        starttls=bool(config.get("CRM_PAY_SMTP_STARTTLS", True)),
        ssl=bool(config.get("CRM_PAY_SMTP_SSL", False)),
        timeout=float(config.get("CRM_PAY_SMTP_TIMEOUT") or 30.0),
    )


def file_sms(config: Mapping[str, Any], *, instance_path: str, secret: SecretLookup) -> SmsSender:
    path = config.get("CRM_PAY_SMS_OUTBOX_PATH") or str(Path(instance_path) / "sms-outbox")
    return FileSmsOutbox(path)


def twilio_keypad(config: Mapping[str, Any], *, secret: SecretLookup) -> KeypadCapturePort | None:
    """The keypad capture (Twilio agent-assisted Pay) for ``ctx.telephony``, or None when
    no account is set (``CRM_PAY_TWILIO_ACCOUNT_SID``). The auth token comes from the
    vault only (``telephony.twilio.auth_token``), as Braintree's private key can."""
    account_sid = config.get("CRM_PAY_TWILIO_ACCOUNT_SID")
    if not account_sid:
        return None
    auth_token = secret("telephony.twilio.auth_token")
    if not auth_token:
        raise ConfigurationError(
            "CRM_PAY_TWILIO_ACCOUNT_SID is set but no auth token: store the account's auth "
            "token in the vault as 'telephony.twilio.auth_token'"
        )
    return TwilioKeypadCapture(
        str(account_sid),
        auth_token,
        payment_connector=str(config.get("CRM_PAY_TWILIO_PAY_CONNECTOR") or "Default"),
        base_url=config.get("CRM_PAY_TWILIO_BASE_URL") or None,
    )


_BUILTIN: dict[str, dict[str, Callable[..., Any] | str]] = {
    # "fake": the in-memory PSP of crm_pay.testing, for tests only (CRM_PAY_PSP=fake);
    # named by its module path so production never imports the testing package.
    "crm_pay.psp": {"braintree": braintree_psp, "fake": "crm_pay.testing.gateway:fake_psp"},
    "crm_pay.crm": {"builtin": builtin_crm},
    "crm_pay.email": {"file": file_mailbox, "smtp": smtp_email},
    "crm_pay.sms": {"file": file_sms},
}


def _factory(group: str, name: str) -> Callable[..., Any]:
    if name in _BUILTIN[group]:
        found = _BUILTIN[group][name]
        if isinstance(found, str):  # "module:attribute", imported only when chosen
            module, _, attribute = found.partition(":")
            return getattr(import_module(module), attribute)  # type: ignore[no-any-return]
        return found
    for ep in entry_points(group=group):
        if ep.name == name:
            return ep.load()  # type: ignore[no-any-return]
    known = sorted(set(_BUILTIN[group]) | {ep.name for ep in entry_points(group=group)})
    raise ConfigurationError(f"no {group} adapter named {name!r}; installed: {', '.join(known)}")


def load_psp(
    config: Mapping[str, Any], *, instance_path: str, secret: SecretLookup
) -> PaymentGateway:
    factory = _factory("crm_pay.psp", config["CRM_PAY_PSP"])
    return factory(config, instance_path=instance_path, secret=secret)  # type: ignore[no-any-return]


def load_crm(
    config: Mapping[str, Any], *, instance_path: str, secret: SecretLookup
) -> CrmConnector:
    factory = _factory("crm_pay.crm", config["CRM_PAY_CRM"])
    return factory(config, instance_path=instance_path, secret=secret)  # type: ignore[no-any-return]


def load_email_sender(
    config: Mapping[str, Any], *, instance_path: str, secret: SecretLookup
) -> EmailSender:
    factory = _factory("crm_pay.email", config["CRM_PAY_EMAIL_SENDER"])
    return factory(config, instance_path=instance_path, secret=secret)  # type: ignore[no-any-return]


def load_sms_sender(
    config: Mapping[str, Any], *, instance_path: str, secret: SecretLookup
) -> SmsSender:
    factory = _factory("crm_pay.sms", config["CRM_PAY_SMS_SENDER"])
    return factory(config, instance_path=instance_path, secret=secret)  # type: ignore[no-any-return]


def _url_check(
    policy: OutboundPolicy, names: tuple[str, ...]
) -> Callable[[Mapping[str, str]], None]:
    """The save-time check of a kind's URL settings: parsed, resolved, every address
    checked (``OutboundUrlRefused`` says what is refused and how to allow a host)."""

    def check(settings: Mapping[str, str]) -> None:
        for name in names:
            value = str(settings.get(name) or "").strip()
            if value:  # empty: the connector's own default (a public vendor URL)
                policy.check_url(value, setting=name, resolve=True)

    return check


def crm_kinds(
    instance_path: str, config: Mapping[str, Any] | None = None
) -> dict[str, ConnectorKind]:
    """The kinds of CRM an admin can configure, from the connectors that are installed.

    ``config`` gives the outbound URL policy (``CRM_PAY_OUTBOUND_ALLOW_HOSTS``, loopback in
    demo mode and tests), read once here and handed to every connector built."""
    policy = policy_from_config(config or {})

    def builtin(
        settings: Mapping[str, str], secrets: Mapping[str, str], mapping: Mapping[str, str]
    ) -> CrmConnector:
        path = settings.get("path") or str(Path(instance_path) / "crm.json")
        return BuiltinCrm(Path(path))

    kinds: dict[str, ConnectorKind] = {
        "builtin": ConnectorKind(
            kind="builtin",
            label="Builtin CRM (demo)",
            factory=builtin,
            settings_fields=(
                {
                    "name": "path",
                    "label": "Data file",
                    "required": False,
                    "help": "JSON file; default crm.json in the instance folder",
                },
            ),
        )
    }
    for kind, module, cls, label in (
        ("salesforce", "connectors.crm.salesforce", "SalesforceCrm", "Salesforce"),
        ("hubspot", "connectors.crm.hubspot", "HubSpotCrm", "HubSpot"),
        ("dynamics", "connectors.crm.dynamics", "DynamicsCrm", "Microsoft Dynamics 365"),
        ("webhook", "connectors.crm.webhook", "WebhookCrm", "Signed webhook"),
    ):
        try:
            mod = import_module(module)
        except ImportError:
            continue
        factory = getattr(mod, cls, None)
        if factory is None:
            continue
        kinds[kind] = ConnectorKind(
            kind=kind,
            label=label,
            factory=functools.partial(factory, outbound=policy),
            check_settings=_url_check(policy, tuple(getattr(mod, "OUTBOUND_URL_SETTINGS", ()))),
            settings_fields=_fields(getattr(mod, "SETTINGS_FIELDS", ())),
            secret_fields=_fields(getattr(mod, "SECRET_FIELDS", ())),
            default_mapping=dict(getattr(mod, "DEFAULT_MAPPING", {})),
        )
    for ep in entry_points(group="crm_pay.crm_kinds"):
        kinds[ep.name] = ep.load()()
    return kinds


def launch_verifiers() -> dict[str, Callable[..., bool]]:
    """Signature checks of the CRMs that open the agent console (``ctx.launch_verifiers``):
    the web layer may not import connectors itself."""
    return {"hubspot": verify_hubspot_signature_v3}


def _fields(fields: Any) -> tuple[dict[str, Any], ...]:
    """Connector packages describe their form fields as dicts or small dataclasses."""
    out = []
    for f in fields:
        if dataclasses.is_dataclass(f) and not isinstance(f, type):
            out.append(dataclasses.asdict(f))
        else:
            out.append(dict(f))
    return tuple(out)


def observed(adapter: Any, name: str, value: Any, observer: CallObserver | None) -> Any:
    """``value`` (attribute ``name`` of ``adapter``), timed when it is a public method
    and an observer is set; anything else as it is."""
    if observer is None or name.startswith("_") or not callable(value):
        return value

    @functools.wraps(value)
    def call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = value(*args, **kwargs)
        except BaseException as exc:
            observer(adapter, name, time.perf_counter() - started, exc)
            raise
        observer(adapter, name, time.perf_counter() - started, None)
        return result

    return call


class ActiveCrm:
    """``ctx.crm``: the admin's enabled connector, else the configured default.

    Re-checks which connector is enabled (and its version) every ``ttl`` seconds, so an
    admin's change takes effect without a restart, in every process."""

    def __init__(self, ctx: Any, default: Callable[[], CrmConnector], *, ttl: float = 2.0) -> None:
        self._ctx = ctx
        self._default_factory = default
        self._ttl = ttl
        self._lock = threading.Lock()
        self._key: tuple[int, int] | None | str = "unset"
        self._adapter: Any = None
        self._checked = -1e9
        self._observer: CallObserver | None = None

    def observe_calls(self, observer: CallObserver | None) -> None:
        """Report every call of a connector method through this proxy to ``observer``."""
        self._observer = observer

    def _get(self) -> Any:
        now = time.monotonic()
        if now - self._checked < self._ttl and self._adapter is not None:
            return self._adapter
        with self._lock:
            try:
                key = crm_settings.active_config(self._ctx)
            except SQLAlchemyError:  # schema not migrated yet: the configured default
                key = None
            if key != self._key or self._adapter is None:
                if key is None:
                    self._adapter = self._default_factory()
                else:
                    row = crm_settings.load_row(self._ctx, key[0])
                    self._adapter = crm_settings.build_adapter(self._ctx, row)
                self._key = key
            self._checked = now
            return self._adapter

    @property
    def wrapped_adapter(self) -> Any:
        """The connector in use now (re-checked if the last check is old)."""
        return self._get()

    def refresh(self) -> None:
        """Re-check which connector is enabled on the next use, not ``ttl`` seconds later."""
        with self._lock:
            self._checked = -1e9

    def close(self) -> None:
        """Close the connector in use, if it can be closed, and forget it."""
        with self._lock:
            adapter, self._adapter, self._key = self._adapter, None, "unset"
        closer = getattr(adapter, "close", None)
        if callable(closer):
            closer()

    def __getattr__(self, name: str) -> Any:
        adapter = self._get()
        return observed(adapter, name, getattr(adapter, name), self._observer)
