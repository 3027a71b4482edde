"""Rate limits and sign-in delays, shared across processes when Redis is configured.

Built on the ``limits`` library's storages: ``memory://`` (one process, the embedded
default) or ``redis://host:6379/<db>`` (``CRM_PAY_RATE_LIMIT_STORAGE``), so every web
process of a deployment sees the same counters. Every key starts with ``crm_pay:`` (and
the deployment's own namespace), so a Redis shared with the host application is fine.

**Fail open.** When the storage cannot be reached (Redis down) a check *allows* the
request and logs an error: a payments console must not be lockable by a Redis outage.
What still holds then is the account's hard ceiling in the database
(``CRM_PAY_LOGIN_MAX_FAILURES``, see :func:`crm_pay.services.access.authenticate_user`).

Sign-in delays (see :func:`login_delay`) are answered at once with the seconds left to
wait; nothing here ever sleeps in a request worker.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from crm_pay.config import CrmPayConfig

__all__ = ["RateLimits", "LoginPolicy", "Refusal", "login_delay", "install"]

log = logging.getLogger("crm_pay.rate_limits")


def login_delay(failures: int, *, free: int, cap_seconds: float) -> float:
    """Seconds the next sign-in must wait after ``failures`` recent failures.

    The first ``free`` failures cost nothing (typos happen); each one after doubles the
    wait, starting at one second, up to ``cap_seconds``: 5 free gives 1, 2, 4, ... s."""
    if failures < free:
        return 0.0
    exponent = failures - free
    if exponent >= 64:  # 2**64 s is far past any cap; avoid a huge float
        return float(cap_seconds)
    return float(min(cap_seconds, 2.0**exponent))


@dataclass(frozen=True)
class Refusal:
    """A request refused by a limit: why (``scope``) and how long to wait."""

    scope: str
    retry_after: int  # whole seconds, at least 1


@dataclass(frozen=True)
class LoginPolicy:
    """The sign-in figures (``CRM_PAY_LOGIN_*``)."""

    account_ip_free: int = 5  # failures of one account from one IP before delays
    account_free: int = 20  # failures of one account from all IPs before delays
    delay_cap_seconds: float = 15 * 60
    failure_window_seconds: int = 60 * 60  # how long a failure is remembered
    ip_accounts: str = "100/10 minutes"  # distinct failing accounts per IP (spray)


def _digest(*parts: str) -> str:
    """Keys never hold an email address or a token in clear (Redis may be shared)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


class RateLimits:
    """One per app (``app.extensions["crm_pay_rate_limits"]``): counters in one storage."""

    def __init__(self, storage_url: str = "memory://", *, namespace: str = "crm_pay") -> None:
        if not namespace.startswith("crm_pay"):
            raise ValueError(f"rate limit namespace {namespace!r} must start with 'crm_pay'")
        # Redis: every key under ``<namespace>:``; memory is this process's own.
        options = {"key_prefix": namespace} if storage_url.startswith(("redis", "rediss")) else {}
        storage = storage_from_string(storage_url, **options)
        if not isinstance(storage, Storage):  # an async storage ("async+redis://")
            raise ValueError(f"{storage_url!r}: use a synchronous storage such as redis://")
        self.storage: Storage = storage
        self.namespace = namespace
        self._window = MovingWindowRateLimiter(self.storage)
        self.storage_url = storage_url

    @staticmethod
    def _key(*parts: str) -> str:
        return ":".join(parts)

    def reachable(self) -> bool:
        """True when the storage answers (checked once at start, logged if not)."""
        try:
            return bool(self.storage.check())
        except Exception:  # noqa: BLE001 - any storage failure means "not reachable"
            return False

    # --- plain rate limits (API keys, pay page) ---------------------------------

    def hit(self, limit: str | RateLimitItem, scope: str, *identifiers: str) -> Refusal | None:
        """Count one request of ``identifiers`` under ``limit`` (e.g. "600/minute");
        a :class:`Refusal` when the limit is used up, else None."""
        item = parse(limit) if isinstance(limit, str) else limit
        ident = (scope, _digest(*identifiers))
        try:
            if self._window.hit(item, *ident):
                return None
            reset, _remaining = self._window.get_window_stats(item, *ident)
        except Exception:  # noqa: BLE001 - fail open, see the module docstring
            log.exception("rate limit storage %s unreachable: %s allowed", self.safe_url, scope)
            return None
        return Refusal(scope, max(1, math.ceil(reset - time.time())))

    # --- sign-in ------------------------------------------------------------------

    def login_refusal(self, policy: LoginPolicy, email: str, ip: str) -> Refusal | None:
        """Before the password is checked: is this account (from this IP) waiting?"""
        account = _digest(email.strip().lower())
        pair = _digest(email.strip().lower(), ip)
        try:
            for scope, ident in (("account_ip", pair), ("account", account)):
                left = self._block_left(scope, ident)
                if left:
                    return Refusal(scope, left)
            item = parse(policy.ip_accounts)
            ip_ident = ("login_ip", _digest(ip))
            if not self._window.test(item, *ip_ident):
                reset, _ = self._window.get_window_stats(item, *ip_ident)
                return Refusal("ip", max(1, math.ceil(reset - time.time())))
        except Exception:  # noqa: BLE001 - fail open
            log.exception("rate limit storage %s unreachable: sign-in allowed", self.safe_url)
        return None

    def login_failed(self, policy: LoginPolicy, email: str, ip: str) -> None:
        """Count a wrong password or an unknown account (both alike: no enumeration)."""
        account = _digest(email.strip().lower())
        pair = _digest(email.strip().lower(), ip)
        window = policy.failure_window_seconds
        try:
            pair_failures = self.storage.incr(self._key("fail", "account_ip", pair), window)
            if pair_failures == 1:
                # The IP ceiling counts distinct accounts failing, so one agent's typos
                # weigh once however often they are repeated.
                self._window.hit(parse(policy.ip_accounts), "login_ip", _digest(ip))
            self._block("account_ip", pair, policy.account_ip_free, pair_failures, policy)
            account_failures = self.storage.incr(self._key("fail", "account", account), window)
            self._block("account", account, policy.account_free, account_failures, policy)
        except Exception:  # noqa: BLE001 - fail open
            log.exception("rate limit storage %s unreachable: failure not counted", self.safe_url)

    def login_succeeded(self, email: str, ip: str) -> None:
        """The right password from this IP: forget this account's failures from it. The
        account-wide count stays (it expires), so a success never resets a spray."""
        pair = _digest(email.strip().lower(), ip)
        try:
            self.storage.clear(self._key("fail", "account_ip", pair))
            self.storage.clear(self._key("block", "account_ip", pair))
        except Exception:  # noqa: BLE001 - fail open
            log.exception("rate limit storage %s unreachable", self.safe_url)

    def _block(self, scope: str, ident: str, free: int, failures: int, policy: LoginPolicy) -> None:
        delay = login_delay(failures, free=free, cap_seconds=policy.delay_cap_seconds)
        if delay:
            key = self._key("block", scope, ident)
            self.storage.clear(key)
            self.storage.incr(key, math.ceil(delay))

    def _block_left(self, scope: str, ident: str) -> int:
        key = self._key("block", scope, ident)
        if not self.storage.get(key):
            return 0
        return max(1, math.ceil(self.storage.get_expiry(key) - time.time()))

    @property
    def safe_url(self) -> str:
        """The storage URL without a password (it goes to the log)."""
        scheme, _, rest = self.storage_url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"


def install(extensions: dict[str, object], config: CrmPayConfig) -> RateLimits:
    """The app's :class:`RateLimits` (created from ``CRM_PAY_RATE_LIMIT_*`` on first
    call, then shared by the console, the pay page and the API), with its
    :class:`LoginPolicy` in ``extensions["crm_pay_login_policy"]``."""
    existing = extensions.get("crm_pay_rate_limits")
    if isinstance(existing, RateLimits):
        return existing
    limits_ = RateLimits(
        config.rate_limit_storage,
        namespace=config.rate_limit_namespace,
    )
    for name in (
        "login_ip_accounts_limit",
        "api_rate_limit",
        "api_unauthenticated_rate_limit",
        "pay_submit_link_limit",
        "pay_submit_ip_limit",
    ):
        value = str(getattr(config, name))
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(
                f"CRM_PAY_{name.upper()}={value!r} is not a rate limit; write e.g. "
                "'600/minute' or '100/10 minutes'"
            ) from exc
    extensions["crm_pay_login_policy"] = LoginPolicy(
        account_ip_free=config.login_account_ip_free_failures,
        account_free=config.login_account_free_failures,
        delay_cap_seconds=float(config.login_delay_cap),
        failure_window_seconds=config.login_failure_window,
        ip_accounts=config.login_ip_accounts_limit,
    )
    if not limits_.reachable():
        # Fail open (module docstring), but say so loudly at start.
        log.error(
            "rate limit storage %s is not reachable: sign-in delays and rate limits are "
            "off until it is (the database's hard lock-out still applies)",
            limits_.safe_url,
        )
    extensions["crm_pay_rate_limits"] = limits_
    return limits_
