"""Live-status latency: from a payment's state change to the agent's socket receiving it.

One server process (this one: crm-pay served by werkzeug's threaded server, Socket.IO in
``threading`` mode, as ``crm-pay demo`` serves it) holds 200 agent sockets. Each socket
is a WebSocket, the transport browsers use, speaking Engine.IO 4 / Socket.IO 5 directly
(a minimal client over ``wsproto``; the real python-socketio client would need
``websocket-client``), connected to ``/live`` and watching its own payment, created by
its own agent.

Scenarios, each timed from just before the event is published to the moment the
socket's reader thread has the decoded ``payment_status`` message:

- ``one at a time``: ``ctx.publish`` for one payment, wait for its agent, next payment
  (round-robin over the 200): the latency of a single change with 200 sockets connected;
- ``burst of 200``: all 200 payments change at once (published back to back); every
  agent's latency is measured from the start of the burst;
- ``customer tick``: ``POST /pay/p/<token>/events`` over HTTP (the customer's page
  reporting a field), i.e. HTTP + link lookup + publish + delivery;
- ``via Redis``: with ``CRM_PAY_SOCKETIO_MESSAGE_QUEUE`` on 127.0.0.1:6379, a write-only
  emitter (what a ``crm-pay worker`` process uses) publishes and the web process
  delivers. Skipped, with the reason printed, when Redis is not reachable.

Sign-in is replaced by a bench-only stand-in (the agent number in the connect URL), so
the figures measure the live path, not the login form. Clients and server share this
process (and its GIL); a separate server process would only do better.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.common import RunOptions, Summary, format_table, machine_info, write_results

__all__ = ["DESCRIPTION", "NAME", "run"]

NAME = "live_status"
DESCRIPTION = "publish -> agent socket latency, p50/p99, with 200 agent WebSockets"

SOCKETS = 200
QUICK_SOCKETS = 50
ROUNDS = 1000  # one-at-a-time publishes
QUICK_ROUNDS = 200
BURSTS = 5
QUICK_BURSTS = 2
TICKS = 300
QUICK_TICKS = 60
REDIS = ("127.0.0.1", 6379)
TIMEOUT = 10.0


class BenchError(RuntimeError):
    """An event did not arrive; the figures would lie."""


class AgentSocket:
    """One agent's browser tab: a WebSocket on ``/live`` watching one payment.

    A few lines of Engine.IO 4 / Socket.IO 5 over ``wsproto`` (installed with
    simple-websocket): connect, join ``/live``, ``watch``, answer pings, and time every
    ``payment_status`` for our payment the moment its frame is decoded."""

    _EVENT = '42/live,["payment_status",'

    def __init__(self, host: str, port: int, agent: int, payment_id: str) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import Request

        self.payment_id = payment_id
        self.arrived = threading.Event()
        self.received_ns = 0
        self._replies: queue.Queue[str] = queue.Queue()
        self._partial = ""
        self._conn = WSConnection(ConnectionType.CLIENT)
        self._send_lock = threading.Lock()
        self._sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self._sock.settimeout(None)
        path = f"/pay/socket.io/?EIO=4&transport=websocket&agent={agent}"
        self._sock.sendall(self._conn.send(Request(host=f"{host}:{port}", target=path)))
        self._reader = threading.Thread(target=self._loop, daemon=True)
        self._reader.start()
        if not self._reply().startswith("0"):
            raise BenchError("unexpected Engine.IO handshake")
        self._send("40/live,")
        if not self._reply().startswith("40/live,"):
            raise BenchError(f"agent {agent} was refused")
        self._send("42/live,1" + json.dumps(["watch", {"payment_id": payment_id}]))
        ack = self._reply()
        if not ack.startswith("43/live,1") or not json.loads(ack[9:])[0]["ok"]:
            raise BenchError(f"agent {agent} could not watch its payment: {ack!r}")

    def _send(self, text: str) -> None:
        from wsproto.events import TextMessage

        with self._send_lock:
            self._sock.sendall(self._conn.send(TextMessage(data=text)))

    def _reply(self) -> str:
        try:
            return self._replies.get(timeout=TIMEOUT)
        except queue.Empty:
            raise BenchError("the server did not answer") from None

    def _loop(self) -> None:
        from wsproto.events import CloseConnection, Ping, TextMessage

        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            now = time.perf_counter_ns()
            if not data:
                return
            self._conn.receive_data(data)
            for event in self._conn.events():
                if isinstance(event, Ping):
                    with self._send_lock:
                        self._sock.sendall(self._conn.send(event.response()))
                elif isinstance(event, CloseConnection):
                    return
                elif isinstance(event, TextMessage):
                    self._partial += event.data
                    if event.message_finished:
                        self._message(self._partial, now)
                        self._partial = ""

    def _message(self, text: str, now: int) -> None:
        if text == "2":  # Engine.IO ping
            self._send("3")
        elif text.startswith(self._EVENT):
            if json.loads(text[len("42/live,") :])[1]["payment_id"] == self.payment_id:
                self.received_ns = now
                self.arrived.set()
        else:
            self._replies.put(text)

    def expect(self) -> None:
        self.arrived.clear()

    def wait(self) -> int:
        if not self.arrived.wait(TIMEOUT):
            raise BenchError(f"no event for {self.payment_id} within {TIMEOUT} s")
        return self.received_ns

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


def _free_redis() -> str | None:
    try:
        with socket.create_connection(REDIS, timeout=0.5):
            return None
    except OSError as exc:
        return f"Redis on {REDIS[0]}:{REDIS[1]} not reachable ({exc})"


@contextmanager
def _server(queue: str | None, channel: str, sockets: int) -> Iterator[tuple[Any, str, list]]:
    """A served crm-pay app with ``sockets`` payments, each created by its own agent."""
    from werkzeug.serving import make_server

    import agent_ui.live_socket
    from crm_pay.app import create_app
    from crm_pay.current import get_context
    from crm_pay.persistence.migrate import upgrade
    from crm_pay.services.access import Principal
    from crm_pay.services.payments import CreatePayment, create_payment

    def bench_principal() -> Principal | None:
        from flask import request

        agent = request.args.get("agent", type=int)
        return None if agent is None else Principal("user", agent, f"agent{agent}@bench", "agent")

    with tempfile.TemporaryDirectory(prefix="crm-pay-bench-live-") as tmp:
        app = create_app(
            {
                "SECRET_KEY": "bench",
                "CRM_PAY_DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
                "CRM_PAY_DEV_SECRETS": True,
                "CRM_PAY_BUILTIN_CRM_PATH": str(Path(tmp) / "crm.json"),
                "CRM_PAY_SOCKETIO_MESSAGE_QUEUE": queue,
                "CRM_PAY_SOCKETIO_CHANNEL": channel,
                "CRM_PAY_LIVE_FIELD_EVENTS_PER_MINUTE": 100_000,
                # No payment is charged here, but creating one checks its currency
                # against the PSP adapter, which needs credentials to be built.
                "CRM_PAY_BRAINTREE_MERCHANT_ID": "bench",
                "CRM_PAY_BRAINTREE_PUBLIC_KEY": "bench",
                "CRM_PAY_BRAINTREE_PRIVATE_KEY": "bench-never-sent",
            },
            instance_path=str(Path(tmp) / "instance"),
        )
        ctx = get_context(app)
        upgrade(ctx.db)
        payments = []
        for agent in range(sockets):
            view, _ = create_payment(
                ctx,
                CreatePayment(crm_ref="CUST-0001", amount="1.00", currency="USD"),
                actor=Principal("user", agent, f"agent{agent}@bench", "agent").actor,
                idempotency_scope="bench",
                idempotency_key=uuid.uuid4().hex,
                request_hash="bench",
            )
            payments.append((view["id"], view["pay_url"].rsplit("/p/", 1)[1]))
        original = agent_ui.live_socket.current_principal
        agent_ui.live_socket.current_principal = bench_principal
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield ctx, f"127.0.0.1:{server.server_port}", payments
        finally:
            server.shutdown()
            server.server_close()
            agent_ui.live_socket.current_principal = original
            ctx.db.dispose()


def _one_at_a_time(
    agents: list[AgentSocket], rounds: int, publish: Callable[[str, dict[str, Any]], None]
) -> list[int]:
    samples = []
    for i in range(rounds):
        agent = agents[i % len(agents)]
        agent.expect()
        started = time.perf_counter_ns()
        publish(agent.payment_id, {"status": "awaiting_customer", "attempts_left": i % 5})
        samples.append(agent.wait() - started)
    return samples


def _bursts(
    agents: list[AgentSocket], bursts: int, publish: Callable[[str, dict[str, Any]], None]
) -> list[int]:
    samples = []
    for i in range(bursts):
        for agent in agents:
            agent.expect()
        started = time.perf_counter_ns()
        for agent in agents:
            publish(agent.payment_id, {"status": "processing", "attempts_left": i % 5})
        samples += [agent.wait() - started for agent in agents]
        time.sleep(0.2)
    return samples


def _customer_ticks(
    agents: list[AgentSocket], base: str, tokens: dict[str, str], n: int
) -> list[int]:
    import requests

    samples = []
    with requests.Session() as http:
        for i in range(n):
            agent = agents[i % len(agents)]
            agent.expect()
            started = time.perf_counter_ns()
            resp = http.post(
                f"http://{base}/pay/p/{tokens[agent.payment_id]}/events",
                json={"field": "cvv", "valid": i % 2 == 0},
                timeout=TIMEOUT,
            )
            if resp.status_code != 204:
                raise BenchError(f"customer tick answered {resp.status_code}: {resp.text}")
            samples.append(agent.wait() - started)
    return samples


def _connect_all(base: str, payments: list[tuple[str, str]]) -> list[AgentSocket]:
    host, port = base.rsplit(":", 1)
    return [AgentSocket(host, int(port), agent, pid) for agent, (pid, _) in enumerate(payments)]


def run(options: RunOptions) -> dict[str, Any]:
    """Run the scenarios; print the table, write and return JSON."""
    from crm_pay.live_publisher import make_publisher

    quick = options.quick
    sockets = QUICK_SOCKETS if quick else SOCKETS
    rounds = options.iterations or (QUICK_ROUNDS if quick else ROUNDS)
    bursts, ticks = (QUICK_BURSTS, QUICK_TICKS) if quick else (BURSTS, TICKS)
    print(f"{sockets} agent WebSockets on one server process; {rounds} single publishes")
    rows: dict[str, Summary] = {}
    notes: dict[str, str] = {}

    with _server(None, "bench", sockets) as (ctx, base, payments):
        started = time.perf_counter()
        agents = _connect_all(base, payments)
        took = time.perf_counter() - started
        print(f"  {len(agents)} sockets connected and watching in {took:.1f} s")
        try:
            _one_at_a_time(agents, min(50, rounds), ctx.publish)  # warm-up
            rows["one at a time"] = Summary.of_ns(_one_at_a_time(agents, rounds, ctx.publish))
            rows[f"burst of {sockets}"] = Summary.of_ns(_bursts(agents, bursts, ctx.publish))
            tokens = dict(payments)
            rows["customer tick (HTTP)"] = Summary.of_ns(
                _customer_ticks(agents, base, tokens, ticks)
            )
        finally:
            for agent in agents:
                agent.close()

    reason = _free_redis()
    if reason is None:
        url, channel = f"redis://{REDIS[0]}:{REDIS[1]}/0", f"crm-pay-bench-{uuid.uuid4().hex}"
        with _server(url, channel, sockets) as (ctx, base, payments):
            agents = _connect_all(base, payments)
            try:
                worker = make_publisher(url, channel=channel)
                _one_at_a_time(agents, min(50, rounds), worker)  # warm-up, and subscribed
                rows["via Redis (worker)"] = Summary.of_ns(_one_at_a_time(agents, rounds, worker))
            finally:
                for agent in agents:
                    agent.close()
    else:
        notes["via Redis (worker)"] = f"skipped: {reason}"

    table = [
        [name, str(s.n), f"{s.median_ms:.2f}", f"{s.p99_ms:.2f}", f"{s.max_ms:.2f}"]
        for name, s in rows.items()
    ]
    print()
    print(format_table(["scenario", "n", "p50 ms", "p99 ms", "max ms"], table))
    for name, note in notes.items():
        print(f"  {name}: {note}")
    payload: dict[str, Any] = {
        "bench": NAME,
        "description": DESCRIPTION,
        "quick": quick,
        "sockets": sockets,
        "machine": machine_info(),
        "scenarios": {name: s.to_json() for name, s in rows.items()},
        "notes": notes,
    }
    if options.results_dir is not None:
        path = write_results(options.results_dir, NAME, payload)
        print(f"  results: {path}")
    return payload
