"""``crm-pay serve`` as operators run it: real gunicorn processes on PostgreSQL and Redis.

Two servers share one database and one Redis channel, as two nodes of one installation:

- **A**: ``crm-pay serve --workers 2`` (WebSocket only, see crm_pay.cli_serve);
- **B**: ``crm-pay serve --workers 1`` (long-polling allowed: the node a sticky proxy
  would send polling-only clients to).

Agents and a supervisor sign in through the real login form and follow their payments
over real Socket.IO connections: WebSocket clients on A, held by both of A's worker
processes (checked by which process owns the server end of each TCP connection), and
long-polling clients on B. One payment is paid through A, the other through B; every
watcher receives its payment's events whichever process holds its socket and whichever
process charged the card, and no agent receives another agent's payment. A polling
client on A is refused at once, and A's access log holds no pay-link token.

Needs PostgreSQL (``CRM_PAY_TEST_DATABASE_URL``'s server, else a local one; the test
works in its own database) and Redis on 127.0.0.1:6379 (its own db number and channel).
"""

from __future__ import annotations

import os
import queue
import re
import time
import uuid
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from serving import own_database, redis_url, serve

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.app import create_app
from crm_pay.current import get_context
from crm_pay.persistence.migrate import upgrade
from crm_pay.services.access import Principal, create_user
from crm_pay.services.payments import CreatePayment, create_payment
from paytest import SANDBOX, free_port, token_of

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.sandbox,
    pytest.mark.timeout(120),
]

REDIS_DB = 11  # this test's own Redis database number
DATABASE = "crm_pay_serve_test"
PASSWORD = "a-long-test-password"
USER_AGENT = "crm-pay-serve-test"
FINAL = "submitted_for_settlement"


# -- console users and their sockets -----------------------------------------------------


def _cookie(base: str, email: str) -> str:
    """The console session cookie of ``email``, signed in through the login form."""
    with requests.Session() as http:
        http.headers["User-Agent"] = USER_AGENT
        form = http.get(f"{base}/pay/agent/login", timeout=10).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        resp = http.post(
            f"{base}/pay/agent/login",
            data={"email": email, "password": PASSWORD, "csrf_token": csrf.group(1)},
            allow_redirects=False,
            timeout=10,
        )
        assert resp.status_code == 302, resp.text
        return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


@dataclass
class Watcher:
    """One Socket.IO client following some payments; what it received."""

    name: str
    client: socketio.Client
    transport: str
    watching: set[str]
    events: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    pid: int | None = None
    seen: list[dict[str, Any]] = field(default_factory=list)

    def final_statuses(self, timeout: float) -> dict[str, str]:
        """payment id -> last status received, waiting until every watched payment has
        reached FINAL (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        last: dict[str, str] = {}
        while any(last.get(p) != FINAL for p in self.watching):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with suppress(queue.Empty):
                event = self.events.get(timeout=left)
                self.seen.append(event)
                if "status" in event:
                    last[event["payment_id"]] = event["status"]
        return last


def _watcher(base: str, name: str, cookie: str, payments: list[str], transport: str) -> Watcher:
    client = socketio.Client(reconnection=False)
    w = Watcher(name, client, transport, set(payments))
    client.on("payment_status", w.events.put, namespace="/live")
    client.connect(
        base,
        headers={"Cookie": cookie, "User-Agent": USER_AGENT},
        namespaces=["/live"],
        socketio_path="/pay/socket.io",
        transports=[transport],
        wait_timeout=10,
    )
    for payment_id in payments:
        ack = client.call("watch", {"payment_id": payment_id}, namespace="/live", timeout=10)
        assert ack["ok"] is True, (name, ack)
    return w


def _wait_for_subscribers(url: str, channel: str, count: int) -> None:
    """Each process subscribes to the channel in a thread once it served Socket.IO."""
    import redis

    with redis.Redis.from_url(url) as r:
        deadline = time.monotonic() + 15
        while dict(r.pubsub_numsub(channel)).get(channel.encode(), 0) < count:
            assert time.monotonic() < deadline, f"fewer than {count} processes subscribed"
            time.sleep(0.05)


# -- the test ---------------------------------------------------------------------------


def test_every_watcher_gets_its_events_whichever_process_serves_it(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_url = own_database(DATABASE)
    queue_url = redis_url(REDIS_DB)
    channel = f"crm-pay-serve-test-{uuid.uuid4().hex}"
    port_a, port_b = free_port(), free_port()
    settings = {
        "CRM_PAY_DATABASE_URL": db_url,
        "CRM_PAY_DEV_SECRETS": "true",
        "CRM_PAY_INSTANCE_PATH": str(tmp_path / "instance"),
        "CRM_PAY_PUBLIC_URL": f"http://127.0.0.1:{port_a}",
        # WebSocket clients send an Origin header, checked like a browser's
        "CRM_PAY_SOCKETIO_CORS_ORIGINS": f"http://127.0.0.1:{port_b}",
        "CRM_PAY_BRAINTREE_ENVIRONMENT": "local",
        "CRM_PAY_BRAINTREE_GATEWAY_URL": sandbox.gateway_url,
        "CRM_PAY_BRAINTREE_ASSETS_URL": sandbox.assets_url,
        "CRM_PAY_BRAINTREE_MERCHANT_ID": SANDBOX["merchant_id"],
        "CRM_PAY_BRAINTREE_PUBLIC_KEY": SANDBOX["public_key"],
        "CRM_PAY_BRAINTREE_PRIVATE_KEY": SANDBOX["private_key"],
        "CRM_PAY_BRAINTREE_TIMEOUT": "10",
        "CRM_PAY_BUILTIN_CRM_PATH": str(tmp_path / "crm.json"),
        "CRM_PAY_SECURE_COOKIES": "false",
        "CRM_PAY_MFA_REQUIRED_ROLES": "",
        "CRM_PAY_SOCKETIO_MESSAGE_QUEUE": queue_url,
        "CRM_PAY_SOCKETIO_CHANNEL": channel,
        "CRM_PAY_RATE_LIMIT_STORAGE": queue_url,
        "CRM_PAY_RATE_LIMIT_NAMESPACE": f"crm_pay_{channel}",
    }
    # Users and payments made here, from the same environment as the servers (the
    # instance folder's dev-secrets.json, made now, is the one every process reads).
    for key in [k for k in os.environ if k.startswith("CRM_PAY_")]:
        monkeypatch.delenv(key)
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    setup = create_app()
    ctx = get_context(setup)
    upgrade(ctx.db)
    people = {"agent1": "agent", "agent2": "agent", "super": "supervisor"}
    principals = {
        key: Principal(
            "user",
            create_user(ctx, email=f"{key}@example.com", role=role, password=PASSWORD),
            f"{key}@example.com",
            role,
        )
        for key, role in people.items()
    }
    paying = {}
    for key, amount in (("agent1", "11.00"), ("agent2", "12.00")):
        view, _ = create_payment(
            ctx,
            CreatePayment(crm_ref="CUST-0001", amount=amount, currency="USD"),
            actor=principals[key].actor,
            idempotency_scope=principals[key].actor,
            idempotency_key=uuid.uuid4().hex,
            request_hash=uuid.uuid4().hex,
        )
        paying[key] = view
    ctx.db.dispose()
    p1, p2 = paying["agent1"]["id"], paying["agent2"]["id"]

    env = dict(os.environ)
    watchers: list[Watcher] = []
    with ExitStack() as stack:
        a = stack.enter_context(serve(env, 2, port_a, tmp_path / "serve-a.log", threads=16))
        b = stack.enter_context(serve(env, 1, port_b, tmp_path / "serve-b.log", threads=16))
        stack.callback(lambda: [w.client.disconnect() for w in watchers])
        cookies = {key: _cookie(a.base, f"{key}@example.com") for key in people}

        # A: WebSocket clients until both of A's processes hold some. The health check
        # proved one process ready; the other may still be loading the app (slow on a
        # loaded machine), and until it accepts the first one takes every connection:
        # so a pause between clients while they all landed on one process.
        plan = [("agent1", [p1]), ("agent2", [p2]), ("super", [p1, p2])]
        while len({w.pid for w in watchers}) < 2 or len(watchers) < len(plan):
            assert len(watchers) < 40, "every WebSocket landed on one process"
            if len(watchers) >= len(plan):
                time.sleep(0.5)
            key, watched = plan[len(watchers) % len(plan)]
            w = _watcher(a.base, f"{key}@A", cookies[key], watched, "websocket")
            w.pid = a.holder_of(w.client.eio.ws.sock.getsockname()[1])
            assert w.pid in a.worker_pids()
            watchers.append(w)

        # A refuses long-polling outright (it could not keep the session in one place).
        with pytest.raises(socketio.exceptions.ConnectionError):
            _watcher(a.base, "agent1@A-polling", cookies["agent1"], [p1], "polling")

        # B: long-polling clients (one process: every poll finds its session).
        (b_pid,) = b.worker_pids()
        for key, watched in (("agent1", [p1]), ("super", [p1, p2])):
            w = _watcher(b.base, f"{key}@B", cookies[key], watched, "polling")
            w.pid = b_pid
            watchers.append(w)

        _wait_for_subscribers(queue_url, channel, 3)

        # One payment paid through A, the other through B.
        for base, view in ((a.base, paying["agent1"]), (b.base, paying["agent2"])):
            paid = requests.post(
                f"{base}/pay/p/{token_of(view['pay_url'])}/pay",
                data={"payment_method_nonce": "fake-valid-nonce"},
                headers={"Accept": "application/json"},
                timeout=20,
            )
            assert paid.status_code == 200 and paid.json()["status"] == FINAL, paid.text

        for w in watchers:
            assert w.final_statuses(timeout=15) == dict.fromkeys(w.watching, FINAL), (
                w.name,
                w.transport,
                w.pid,
                w.seen,
            )
            # never another agent's payment
            assert {e["payment_id"] for e in w.seen} <= w.watching, w.name

        assert len({w.pid for w in watchers if w.transport == "websocket"}) == 2
        assert {w.pid for w in watchers} == a.worker_pids() | {b_pid}

    log = (tmp_path / "serve-a.log").read_text()
    assert "/pay/p/[redacted]/pay" in log
    for view in paying.values():
        assert token_of(view["pay_url"]) not in log
