"""With ``CRM_PAY_RATE_LIMIT_STORAGE=redis://...`` every web process sees the same
sign-in failures: two apps (as two processes would be) on one Redis and one database."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from flask import Flask

from paytest import login

pytestmark = pytest.mark.redis

REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 4


@pytest.fixture
def shared_store() -> Iterator[dict[str, str]]:
    """Config of a Redis store under a namespace of this test only, removed after."""
    try:
        socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=0.5).close()
    except OSError:
        pytest.skip(f"needs Redis on {REDIS_HOST}:{REDIS_PORT} (CI runs one)")
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    namespace = f"crm_pay:test-{uuid.uuid4().hex}"
    yield {"CRM_PAY_RATE_LIMIT_STORAGE": url, "CRM_PAY_RATE_LIMIT_NAMESPACE": namespace}
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"*{namespace}*"):
        client.delete(key)
    client.close()


def test_two_processes_see_each_others_failures(
    make_app: Callable[..., Flask], users: dict[str, int], shared_store: dict[str, str]
):
    first, second = make_app(**shared_store), make_app(**shared_store)
    for n in range(5):  # spread over both "processes"
        app = first if n % 2 else second
        assert login(app.test_client(), "agent@example.com", "wrong pass 1").status_code == 401
    waiting = login(first.test_client(), "agent@example.com")
    also = login(second.test_client(), "agent@example.com")
    assert waiting.status_code == also.status_code == 429
    assert also.headers["Retry-After"] == "1"
    # Another account on the same address signs in on either process.
    assert login(second.test_client(), "agent2@example.com").status_code == 302
    client = redis.Redis.from_url(shared_store["CRM_PAY_RATE_LIMIT_STORAGE"])
    namespace = shared_store["CRM_PAY_RATE_LIMIT_NAMESPACE"]
    keys = [k.decode() for k in client.scan_iter(match=f"{namespace}:*")]
    client.close()
    assert keys  # every key is under this deployment's crm_pay namespace
    assert not any("agent@example.com" in k for k in keys)  # digests, no addresses


def test_an_unreachable_redis_fails_open_and_says_so(
    make_app: Callable[..., Flask], users: dict[str, int], caplog: pytest.LogCaptureFixture
):
    """A Redis outage must not lock the console: sign-in works, an error is logged."""
    app = make_app(CRM_PAY_RATE_LIMIT_STORAGE="redis://127.0.0.1:1/0")
    assert "is not reachable" in caplog.text
    for _ in range(6):
        assert login(app.test_client(), "agent@example.com", "wrong pass 1").status_code == 401
    assert login(app.test_client(), "agent@example.com").status_code == 302
