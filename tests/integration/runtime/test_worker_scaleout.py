"""Four ``crm-pay worker`` processes on one PostgreSQL outbox, and two janitors at once.

PostgreSQL only (``CRM_PAY_TEST_DATABASE_URL``): on SQLite one worker process is
assumed (docs/runbooks/workers.md).

The CRM is the signed-webhook connector pointed at a receiver this test runs on
127.0.0.1, which answers after 50 ms and records every event it is sent. What is proved:

- while all four workers live, every message reaches the CRM exactly once, messages of
  one ordering key arrive in the order they were written, and several workers deliver at
  the same time (the receiver sees overlapping requests; one dispatcher delivers one at
  a time);
- a worker killed with SIGKILL while a delivery is in flight loses nothing: the
  messages it had claimed are delivered by the others once its lease runs out. The one
  guarantee that weakens is for the message in flight at the kill: the CRM may have
  received it before the worker could record that, so it is delivered again, with the
  same event id (``CrmPay-Event-Id``) the receiver dedupes on. No other message arrives
  twice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from connectors.crm.webhook import EVENT_ID_HEADER
from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.app import create_app
from crm_pay.current import get_context
from crm_pay.persistence.locks import exclusive
from crm_pay.persistence.migrate import upgrade
from crm_pay.persistence.models import OutboxMessage, Payment
from crm_pay.services import crm_settings
from crm_pay.services.context import Context
from crm_pay.services.janitor import run_janitor
from crm_pay.services.outbox import enqueue, outbox_summary
from paytest import SANDBOX, app_config, create_link

LATENCY = 0.05  # the CRM's answer time, seconds
LEASE = 10  # --lease-seconds of the workers: how long a killed worker's claims wait
WORKERS = 4
TOPIC = "crm.timeline_note"  # delivered one message per CRM call, no database reads


@dataclass(frozen=True)
class Delivery:
    key: str  # our note key: one per outbox message
    event_id: str
    at: float


@dataclass
class Receiver:
    """The CRM's end of the webhook: records each event, answers 200 after ``LATENCY``.

    ``hold_key``: the request carrying this note is held open (until ``release``) and
    the sender's local port noted in ``held_port``, so the test can kill the very
    worker process that is delivering it."""

    deliveries: list[Delivery] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    hold_key: str | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    held_port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def arrived(self) -> list[str]:
        with self.lock:
            return [d.key for d in self.deliveries]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            key = body["data"]["key"]
            with state.lock:
                state.in_flight += 1
                state.most_in_flight = max(state.most_in_flight, state.in_flight)
                # Recorded on arrival: from here on the CRM has it, whatever happens to
                # the worker that sent it.
                state.deliveries.append(
                    Delivery(key, self.headers[EVENT_ID_HEADER], time.monotonic())
                )
                hold = key == state.hold_key and not state.held.is_set()
            if hold:
                state.held_port = self.client_address[1]
                state.held.set()
                state.release.wait(30)
            else:
                time.sleep(LATENCY)
            with state.lock:
                state.in_flight -= 1
            try:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender was killed meanwhile

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/crm-events"
    state.release.set()
    server.shutdown()
    server.server_close()


def _worker_env(db_url: str, sandbox: SandboxServer, instance: Path) -> dict[str, str]:
    """What a ``crm-pay worker`` process reads: the environment, as in production."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_PAY_")}
    env.update(
        {
            "CRM_PAY_DATABASE_URL": db_url,
            "CRM_PAY_INSTANCE_PATH": str(instance),  # the same development secrets
            "CRM_PAY_DEV_SECRETS": "true",
            "CRM_PAY_SECRET_KEY": "test-secret-key",
            "CRM_PAY_PUBLIC_URL": "http://shop.test",
            # Demo mode lets connectors call http://127.0.0.1 (the receiver).
            "CRM_PAY_DEMO": "true",
            "CRM_PAY_BRAINTREE_ENVIRONMENT": "local",
            "CRM_PAY_BRAINTREE_GATEWAY_URL": sandbox.gateway_url,
            "CRM_PAY_BRAINTREE_ASSETS_URL": sandbox.assets_url,
            "CRM_PAY_BRAINTREE_MERCHANT_ID": SANDBOX["merchant_id"],
            "CRM_PAY_BRAINTREE_PUBLIC_KEY": SANDBOX["public_key"],
            "CRM_PAY_BRAINTREE_PRIVATE_KEY": SANDBOX["private_key"],
            "CRM_PAY_SECURE_COOKIES": "false",
        }
    )
    return env


@pytest.fixture
def rig(
    postgres_url: str,
    sandbox: SandboxServer,
    tmp_path: Path,
    receiver: tuple[Receiver, str],
) -> Iterator[tuple[Context, dict[str, str]]]:
    """A migrated PostgreSQL database whose enabled CRM is the webhook to ``receiver``."""
    instance = tmp_path / "instance"
    app: Flask = create_app(
        app_config(postgres_url, sandbox, tmp_path), instance_path=str(instance)
    )
    ctx = get_context(app)
    upgrade(ctx.db)
    crm_settings.save_connector(
        ctx,
        name="hook",
        kind="webhook",
        settings={"url": receiver[1], "timeout": "20"},
        secrets={"signing_secret": uuid.uuid4().hex},
        actor="test",
    )
    crm_settings.enable_connector(
        ctx, "hook", actor="test", override_reason="test set-up: enabled without a test"
    )
    yield ctx, _worker_env(postgres_url, sandbox, instance)
    ctx.db.dispose()


def _start_workers(env: dict[str, str], logs: Path, n: int) -> list[subprocess.Popen[bytes]]:
    exe = Path(sys.executable).with_name("crm-pay")
    procs = []
    for i in range(n):
        with (logs / f"worker-{i}.log").open("wb") as out:  # the child keeps its own copy
            procs.append(
                subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                    [str(exe), "worker", "--lease-seconds", str(LEASE)],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    return procs


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def _enqueue(ctx: Context, keys: Sequence[str], per_key: int) -> list[str]:
    """One note per key in ``keys``; ``per_key`` consecutive notes share an ordering key."""
    with ctx.db.transaction() as s:
        for i, key in enumerate(keys):
            enqueue(
                s,
                topic=TOPIC,
                ordering_key=f"crm:CUST-{key[:2]}-{i // per_key}",
                dedupe_key=f"note:{key}",
                payload={"crm_ref": f"CUST-{i // per_key}", "key": key, "text": f"note {key}"},
                now=ctx.now(),
            )
    return list(keys)


def _wait_all_sent(ctx: Context, timeout: float, procs: Sequence[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summary = outbox_summary(ctx)
        if not summary.get("pending") and not summary.get("dead"):
            return
        assert all(p.poll() is None for p in procs), "a worker exited on its own"
        time.sleep(0.2)
    raise AssertionError(f"outbox not drained in {timeout}s: {outbox_summary(ctx)}")


def _pid_with_local_port(pids: Sequence[int], port: int) -> int | None:
    """The process among ``pids`` that owns the TCP socket bound to local ``port``."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                parts = line.split()
                if int(parts[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(parts[9])
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    return None


def _ordering_ok(ctx: Context, receiver: Receiver) -> None:
    """Per ordering key, the first arrival of each message follows the outbox id order."""
    first: dict[str, float] = {}
    for d in receiver.deliveries:
        first.setdefault(d.key, d.at)
    with ctx.db.transaction() as s:
        rows = s.execute(
            select(OutboxMessage.ordering_key, OutboxMessage.payload).order_by(OutboxMessage.id)
        ).all()
    by_key: dict[str, list[str]] = {}
    for okey, payload in rows:
        by_key.setdefault(okey, []).append(payload["key"])
    for okey, notes in by_key.items():
        times = [first[n] for n in notes]
        assert times == sorted(times), f"{okey}: delivered out of order"


def test_four_workers_deliver_each_message_once_and_lose_none_when_one_is_killed(
    rig: tuple[Context, dict[str, str]], receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    ctx, env = rig
    state, _ = receiver
    procs = _start_workers(env, tmp_path, WORKERS)
    try:
        # -- all four alive: exactly once, in order per key, in parallel -------------
        first = _enqueue(ctx, [f"a-{i:04d}" for i in range(240)], per_key=3)
        _wait_all_sent(ctx, 90, procs)
        keys = state.arrived()
        assert sorted(keys) == sorted(first), "each message delivered exactly once"
        assert state.most_in_flight >= 2, "the workers did not deliver side by side"
        _ordering_ok(ctx, state)

        # -- one killed mid-delivery: none lost --------------------------------------
        second = [f"b-{i:04d}" for i in range(240)]
        state.hold_key = second[120]
        _enqueue(ctx, second, per_key=3)
        assert state.held.wait(60), "the held message was never sent"
        victim = _pid_with_local_port([p.pid for p in procs], state.held_port)
        assert victim is not None, "no worker owns the held connection"
        os.kill(victim, signal.SIGKILL)
        killed = next(p for p in procs if p.pid == victim)
        killed.wait(10)
        state.release.set()
        alive = [p for p in procs if p is not killed]
        _wait_all_sent(ctx, LEASE + 90, alive)

        got = [k for k in state.arrived() if k.startswith("b-")]
        assert set(got) == set(second), "a message was lost with the killed worker"
        twice = {k for k in got if got.count(k) > 1}
        # Only the message in flight at the kill arrives again: the CRM had it, the dead
        # worker never recorded that, so after the lease another worker sends it again.
        assert twice == {state.hold_key}
        assert got.count(state.hold_key) == 2
        ids = {d.event_id for d in state.deliveries if d.key == state.hold_key}
        assert len(ids) == 1, "a redelivery carries the same event id for the CRM to dedupe"
        _ordering_ok(ctx, state)
        summary = outbox_summary(ctx)
        assert summary == {"sent": len(first) + len(second)}
    finally:
        state.release.set()
        _stop(procs)


# -- the janitor -------------------------------------------------------------------


class CountingPsp:
    """The PSP as the janitor sees it, slow enough that two passes overlap; counts
    every search by order id."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.asked: list[str] = []
        self.lock = threading.Lock()

    def find_by_order_id(self, order_id: str) -> list[Any]:
        with self.lock:
            self.asked.append(order_id)
        time.sleep(0.2)
        return []  # no trace yet: still in doubt, checked again later

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_two_janitors_at_once_check_each_payment_in_doubt_once(
    postgres_url: str, client: Any, auth: dict[str, str], ctx: Context
) -> None:
    ids = [create_link(client, auth, amount="10.00")[1]["id"] for _ in range(8)]
    now = ctx.now()
    with ctx.db.transaction() as s:
        s.execute(
            update(Payment)
            .where(Payment.id.in_(ids))
            .values(status="unknown", next_check_at=None, in_doubt_since=now, janitor_checks=0)
        )
    psp = CountingPsp(ctx.psp)
    janitor_ctx = dataclasses.replace(ctx, psp=psp)
    start = threading.Barrier(2)
    reports: list[Any] = []

    def janitor() -> None:
        start.wait()
        reports.append(run_janitor(janitor_ctx))

    threads = [threading.Thread(target=janitor) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert sorted(psp.asked) == sorted(set(psp.asked)), "one payment asked about twice"
    assert len(psp.asked) == len(ids)
    assert sum(r.checked for r in reports) == len(ids)
    with ctx.db.transaction() as s:
        checks = dict(s.execute(select(Payment.id, Payment.janitor_checks)).all())
    assert all(checks[i] == 1 for i in ids), checks


def test_a_one_at_a_time_job_is_refused_to_a_second_worker_until_the_first_ends(
    postgres_url: str, ctx: Context
) -> None:
    with exclusive(ctx.db, "test.job") as first, exclusive(ctx.db, "test.job") as second:
        assert (first, second) == (True, False)
    with exclusive(ctx.db, "test.job") as again:
        assert again is True
