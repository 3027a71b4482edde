"""The sign-in delay schedule and the rate-limit store, without a web app."""

from __future__ import annotations

import pytest

from crm_pay.rate_limits import LoginPolicy, RateLimits, login_delay


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
    keys = " ".join(str(k) for k in limits.storage.storage)  # type: ignore[attr-defined]
    assert "someone" not in keys and "10.0.0.1" not in keys


class _DeadStorage:
    """What a Redis outage looks like to the limiter: every call raises."""

    def __getattr__(self, name: str):
        def fail(*args: object, **kwargs: object) -> None:
            raise ConnectionError("Redis is down")

        return fail


def test_an_unreachable_store_fails_open_and_logs(caplog: pytest.LogCaptureFixture):
    limits, policy = RateLimits(), LoginPolicy(account_ip_free=0)
    limits.storage = _DeadStorage()  # type: ignore[assignment]
    limits._window.storage = limits.storage  # type: ignore[attr-defined]
    limits.login_failed(policy, "a@example.com", "10.0.0.1")
    assert limits.login_refusal(policy, "a@example.com", "10.0.0.1") is None
    assert limits.hit("1/minute", "api_key", "1") is None
    assert not limits.reachable()
    assert "unreachable" in caplog.text
