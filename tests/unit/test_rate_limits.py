"""The sign-in delay schedule and the rate-limit store, without a web app."""

from __future__ import annotations

import threading

import pytest
from limits import parse

from crm_pay.rate_limits import (
    SWEEP_EVERY_SECONDS,
    LoginPolicy,
    ProcessCounters,
    RateLimits,
    login_delay,
)


def test_the_first_failures_are_free_then_the_wait_doubles_up_to_the_cap():
    waits = [login_delay(n, free=5, cap_seconds=900) for n in range(0, 20)]
    assert waits[:5] == [0, 0, 0, 0, 0]
    assert waits[5:12] == [1, 2, 4, 8, 16, 32, 64]
    assert waits[14] == 512
    assert waits[15:] == [900] * 5  # 1024 s capped at 15 minutes
    assert login_delay(10_000, free=5, cap_seconds=900) == 900  # no overflow


def test_a_policy_with_no_free_failures_waits_after_the_first():
    assert login_delay(0, free=0, cap_seconds=60) == 1
    assert login_delay(1, free=0, cap_seconds=60) == 2


def test_the_namespace_must_be_crm_pays_own():
    with pytest.raises(ValueError, match="must start with 'crm_pay'"):
        RateLimits("memory://", namespace="sessions")


def test_a_limit_refuses_with_the_seconds_to_wait_and_counts_each_identity_alone():
    limits = RateLimits()
    assert [limits.hit("2/minute", "api_key", "1") for _ in range(2)] == [None, None]
    refused = limits.hit("2/minute", "api_key", "1")
    assert refused is not None and refused.scope == "api_key"
    assert 1 <= refused.retry_after <= 60
    assert limits.hit("2/minute", "api_key", "2") is None  # another key has its own


def test_account_ip_failures_delay_that_pair_only():
    limits, policy = RateLimits(), LoginPolicy(account_ip_free=3, account_free=50)
    for _ in range(3):
        assert limits.login_refusal(policy, "a@example.com", "10.0.0.1") is None
        limits.login_failed(policy, "a@example.com", "10.0.0.1")
    refused = limits.login_refusal(policy, "A@example.com ", "10.0.0.1")  # same account
    assert refused is not None and refused.scope == "account_ip" and refused.retry_after == 1
    assert limits.login_refusal(policy, "a@example.com", "10.0.0.2") is None
    assert limits.login_refusal(policy, "b@example.com", "10.0.0.1") is None
    limits.login_succeeded("a@example.com", "10.0.0.1")
    assert limits.login_refusal(policy, "a@example.com", "10.0.0.1") is None


def test_keys_hold_no_email_address_in_clear():
    limits, policy = RateLimits(), LoginPolicy()
    limits.login_failed(policy, "someone@example.com", "10.0.0.1")
    limits.hit("5/minute", "pay_submit_ip", "10.0.0.1")
    assert isinstance(limits.counters, ProcessCounters)
    keys = " ".join(limits.counters.keys())
    assert keys and "someone" not in keys and "10.0.0.1" not in keys


class _DeadStorage:
    """What a Redis outage looks like to the limiter: every call raises."""

    def __getattr__(self, name: str):
        def fail(*args: object, **kwargs: object) -> None:
            raise ConnectionError("Redis is down")

        return fail


def test_an_unreachable_store_fails_open_and_logs(caplog: pytest.LogCaptureFixture):
    limits, policy = RateLimits(), LoginPolicy(account_ip_free=0)
    limits.counters = _DeadStorage()  # type: ignore[assignment]
    limits.login_failed(policy, "a@example.com", "10.0.0.1")
    assert limits.login_refusal(policy, "a@example.com", "10.0.0.1") is None
    assert limits.hit("1/minute", "api_key", "1") is None
    assert not limits.reachable()
    assert "unreachable" in caplog.text


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides_a_refused_hit_is_not_counted_and_the_wait_is_exact():
    clock = _Clock()
    limits = RateLimits(clock=clock)
    assert limits.hit("2/minute", "api_key", "1") is None
    clock.now += 40
    assert limits.hit("2/minute", "api_key", "1") is None
    clock.now += 5
    refused = limits.hit("2/minute", "api_key", "1")
    assert refused is not None and refused.retry_after == 15  # the first hit leaves at 60 s
    clock.now += 15
    assert limits.hit("2/minute", "api_key", "1") is None  # the first hit left the window
    refused = limits.hit("2/minute", "api_key", "1")
    # hits at 40 s and 60 s are in the window; the one of 40 s leaves it at 100 s
    assert refused is not None and refused.retry_after == 40


def test_two_limits_on_the_same_identity_count_apart():
    limits = RateLimits(clock=_Clock())
    assert limits.hit("1/minute", "csp_reports", "10.0.0.1") is None
    assert limits.hit("1/minute", "csp_reports", "10.0.0.1") is not None
    assert limits.hit("5/hour", "csp_reports", "10.0.0.1") is None


def test_threads_hitting_one_limit_get_exactly_its_amount():
    limits = RateLimits()
    taken: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def client() -> None:
        start.wait()
        for _ in range(50):
            ok = limits.hit("100/minute", "api_key", "shared") is None
            with lock:
                taken.append(ok)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 400 and taken.count(True) == 100


def test_the_memory_store_starts_no_thread_and_forgets_what_expired():
    clock = _Clock()
    counters = ProcessCounters(clock)
    before = threading.active_count()
    item = parse("3/minute")
    assert counters.window_hit(item, "pay_submit_ip", "a")
    assert counters.incr("fail:account:x", 10) == 1
    assert counters.incr("fail:account:x", 10) == 2
    assert threading.active_count() == before
    clock.now += 10
    assert counters.get("fail:account:x") == 0  # expired with its first increment's expiry
    assert counters.incr("fail:account:x", 10) == 1
    clock.now += SWEEP_EVERY_SECONDS + 1
    counters.window_hit(item, "pay_submit_ip", "b")  # a write sweeps what has expired
    assert counters.keys() == [item.key_for("pay_submit_ip", "b")]


def test_a_limit_that_is_not_one_is_refused_with_an_example():
    limits = RateLimits()
    with pytest.raises(ValueError):
        limits.hit("lots", "api_key", "1")
