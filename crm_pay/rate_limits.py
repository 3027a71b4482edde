"""Rate limits and sign-in delays, shared across processes when Redis is configured.

Counted in ``memory://`` (one process, the embedded default: :class:`ProcessCounters`,
ours) or in a ``limits`` library storage such as ``redis://host:6379/<db>``
(``CRM_PAY_RATE_LIMIT_STORAGE``), so every web process of a deployment sees the same
counters. Every Redis key starts with ``crm_pay:`` (and the deployment's own namespace),
so a Redis shared with the host application is fine.

Why not the ``limits`` library's own ``memory://`` storage: it starts a
``threading.Timer`` to expire keys whenever hits are more than 10 ms apart, which cost
about 0.4 ms of CPU per hit (three hits per link payment), on every request of a quiet
server. :class:`ProcessCounters` keeps the same moving-window and counter semantics
under one lock and drops what has expired on the way (each key when it is touched,
all keys at most once a minute), with no thread.

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
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from crm_pay.config import CrmPayConfig

__all__ = [
    "Counters",
    "LoginPolicy",
    "ProcessCounters",
    "RateLimits",
    "Refusal",
    "install",
    "login_delay",
]

log = logging.getLogger("crm_pay.rate_limits")

#: How often :class:`ProcessCounters` looks through every key for expired ones.
SWEEP_EVERY_SECONDS = 60.0


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


@lru_cache(maxsize=128)
def _item(limit: str) -> RateLimitItem:
    """``"600/minute"`` parsed once (the same few limits are counted on every request)."""
    return parse(limit)


class Counters(Protocol):
    """What :class:`RateLimits` needs of a storage: moving windows and expiring counters.
    Durations are seconds from now."""

    def window_hit(self, item: RateLimitItem, *identifiers: str) -> bool: ...
    def window_test(self, item: RateLimitItem, *identifiers: str) -> bool: ...
    def window_reset_in(self, item: RateLimitItem, *identifiers: str) -> float: ...
    def incr(self, key: str, expiry: int) -> int: ...
    def get(self, key: str) -> int: ...
    def expires_in(self, key: str) -> float: ...
    def clear(self, key: str) -> None: ...
    def check(self) -> bool: ...


class ProcessCounters:
    """``memory://``: this process's counters, correct under threads (one lock).

    Same semantics as the ``limits`` library's moving window (``MemoryStorage``
    ``acquire_entry``/``get_moving_window``): a hit is taken when fewer than
    ``item.amount`` hits were taken in the last ``item.get_expiry()`` seconds, and a
    refused hit is not counted; a counter's expiry is set by its first increment. Times
    are ``clock()`` seconds (monotonic by default, so a wall-clock step changes nothing).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # key → (window seconds, times of the hits taken in it, oldest first)
        self._windows: dict[str, tuple[int, deque[float]]] = {}
        # key → (count, when it expires)
        self._counts: dict[str, tuple[int, float]] = {}
        self._sweep_at = clock() + SWEEP_EVERY_SECONDS

    def _window(self, item: RateLimitItem, key: str, now: float) -> deque[float]:
        """The hits still inside the window (caller holds the lock)."""
        expiry = item.get_expiry()
        entry = self._windows.get(key)
        if entry is None:
            hits: deque[float] = deque()
            self._windows[key] = (expiry, hits)
            return hits
        hits = entry[1]
        while hits and hits[0] + expiry <= now:
            hits.popleft()
        return hits

    def _sweep(self, now: float) -> None:
        """Forget every key with nothing left in it (caller holds the lock)."""
        if now < self._sweep_at:
            return
        self._sweep_at = now + SWEEP_EVERY_SECONDS
        for key, (expiry, hits) in list(self._windows.items()):
            if not hits or hits[-1] + expiry <= now:
                del self._windows[key]
        for key, (_count, expires) in list(self._counts.items()):
            if expires <= now:
                del self._counts[key]

    def window_hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        with self._lock:
            now = self._clock()
            self._sweep(now)
            hits = self._window(item, item.key_for(*identifiers), now)
            if len(hits) >= item.amount:
                return False
            hits.append(now)
            return True

    def window_test(self, item: RateLimitItem, *identifiers: str) -> bool:
        with self._lock:
            now = self._clock()
            return len(self._window(item, item.key_for(*identifiers), now)) < item.amount

    def window_reset_in(self, item: RateLimitItem, *identifiers: str) -> float:
        with self._lock:
            now = self._clock()
            hits = self._window(item, item.key_for(*identifiers), now)
            return hits[0] + item.get_expiry() - now if hits else 0.0

    def incr(self, key: str, expiry: int) -> int:
        with self._lock:
            now = self._clock()
            self._sweep(now)
            count, expires = self._counts.get(key, (0, now))
            if expires <= now:
                count, expires = 0, now + expiry
            self._counts[key] = (count + 1, expires)
            return count + 1

    def get(self, key: str) -> int:
        with self._lock:
            count, expires = self._counts.get(key, (0, 0.0))
            return count if expires > self._clock() else 0

    def expires_in(self, key: str) -> float:
        with self._lock:
            _count, expires = self._counts.get(key, (0, 0.0))
            return max(0.0, expires - self._clock())

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)
            self._windows.pop(key, None)

    def check(self) -> bool:
        return True

    def keys(self) -> list[str]:
        """Every key held now (to inspect what is stored, e.g. that no email is)."""
        with self._lock:
            return [*self._windows, *self._counts]


class LibraryCounters:
    """A ``limits`` library storage (``redis://`` ...) behind :class:`Counters`."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._window = MovingWindowRateLimiter(storage)

    def window_hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        return self._window.hit(item, *identifiers)

    def window_test(self, item: RateLimitItem, *identifiers: str) -> bool:
        return self._window.test(item, *identifiers)

    def window_reset_in(self, item: RateLimitItem, *identifiers: str) -> float:
        reset, _remaining = self._window.get_window_stats(item, *identifiers)
        return reset - time.time()

    def incr(self, key: str, expiry: int) -> int:
        return self.storage.incr(key, expiry)

    def get(self, key: str) -> int:
        return self.storage.get(key)

    def expires_in(self, key: str) -> float:
        return self.storage.get_expiry(key) - time.time()

    def clear(self, key: str) -> None:
        self.storage.clear(key)

    def check(self) -> bool:
        return bool(self.storage.check())


class RateLimits:
    """One per app (``app.extensions["crm_pay_rate_limits"]``): counters in one storage.

    ``clock``: the time source of ``memory://`` counters (a test's clock); a shared
    storage keeps its own time."""

    def __init__(
        self,
        storage_url: str = "memory://",
        *,
        namespace: str = "crm_pay",
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not namespace.startswith("crm_pay"):
            raise ValueError(f"rate limit namespace {namespace!r} must start with 'crm_pay'")
        self.counters: Counters
        if storage_url.partition("://")[0] == "memory":
            self.counters = ProcessCounters(clock or time.monotonic)
        else:
            # Redis: every key under ``<namespace>:``.
            redis = storage_url.startswith(("redis", "rediss"))
            storage = storage_from_string(
                storage_url, **({"key_prefix": namespace} if redis else {})
            )
            if not isinstance(storage, Storage):  # an async storage ("async+redis://")
                raise ValueError(f"{storage_url!r}: use a synchronous storage such as redis://")
            self.counters = LibraryCounters(storage)
        self.namespace = namespace
        self.storage_url = storage_url

    @staticmethod
    def _key(*parts: str) -> str:
        return ":".join(parts)

    def reachable(self) -> bool:
        """True when the storage answers (checked once at start, logged if not)."""
        try:
            return self.counters.check()
        except Exception:  # noqa: BLE001 - any storage failure means "not reachable"
            return False

    # --- plain rate limits (API keys, pay page) ---------------------------------

    def hit(self, limit: str | RateLimitItem, scope: str, *identifiers: str) -> Refusal | None:
        """Count one request of ``identifiers`` under ``limit`` (e.g. "600/minute");
        a :class:`Refusal` when the limit is used up, else None."""
        item = _item(limit) if isinstance(limit, str) else limit
        ident = (scope, _digest(*identifiers))
        try:
            if self.counters.window_hit(item, *ident):
                return None
            wait = self.counters.window_reset_in(item, *ident)
        except Exception:  # noqa: BLE001 - fail open, see the module docstring
            log.exception("rate limit storage %s unreachable: %s allowed", self.safe_url, scope)
            return None
        return Refusal(scope, max(1, math.ceil(wait)))

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
            item = _item(policy.ip_accounts)
            ip_ident = ("login_ip", _digest(ip))
            if not self.counters.window_test(item, *ip_ident):
                wait = self.counters.window_reset_in(item, *ip_ident)
                return Refusal("ip", max(1, math.ceil(wait)))
        except Exception:  # noqa: BLE001 - fail open
            log.exception("rate limit storage %s unreachable: sign-in allowed", self.safe_url)
        return None

    def login_failed(self, policy: LoginPolicy, email: str, ip: str) -> None:
        """Count a wrong password or an unknown account (both alike: no enumeration)."""
        account = _digest(email.strip().lower())
        pair = _digest(email.strip().lower(), ip)
        window = policy.failure_window_seconds
        try:
            pair_failures = self.counters.incr(self._key("fail", "account_ip", pair), window)
            if pair_failures == 1:
                # The IP ceiling counts distinct accounts failing, so one agent's typos
                # weigh once however often they are repeated.
                self.counters.window_hit(_item(policy.ip_accounts), "login_ip", _digest(ip))
            self._block("account_ip", pair, policy.account_ip_free, pair_failures, policy)
            account_failures = self.counters.incr(self._key("fail", "account", account), window)
            self._block("account", account, policy.account_free, account_failures, policy)
        except Exception:  # noqa: BLE001 - fail open
            log.exception("rate limit storage %s unreachable: failure not counted", self.safe_url)

    def login_succeeded(self, email: str, ip: str) -> None:
        """The right password from this IP: forget this account's failures from it. The
        account-wide count stays (it expires), so a success never resets a spray."""
        pair = _digest(email.strip().lower(), ip)
        try:
            self.counters.clear(self._key("fail", "account_ip", pair))
            self.counters.clear(self._key("block", "account_ip", pair))
        except Exception:  # noqa: BLE001 - fail open
            log.exception("rate limit storage %s unreachable", self.safe_url)

    def _block(self, scope: str, ident: str, free: int, failures: int, policy: LoginPolicy) -> None:
        delay = login_delay(failures, free=free, cap_seconds=policy.delay_cap_seconds)
        if delay:
            key = self._key("block", scope, ident)
            self.counters.clear(key)
            self.counters.incr(key, math.ceil(delay))

    def _block_left(self, scope: str, ident: str) -> int:
        key = self._key("block", scope, ident)
        if not self.counters.get(key):
            return 0
        return max(1, math.ceil(self.counters.expires_in(key)))

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
