"""With ``CRM_PAY_SOCKETIO_MESSAGE_QUEUE=redis://...`` an event published by a worker
process (a write-only emitter, no Socket.IO server) reaches an agent whose socket is held
by a web process. Real Redis on 127.0.0.1:6379, a real HTTP server, a real python-socketio
client signed in with the console's session cookie."""

from __future__ import annotations

import dataclasses
import queue
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import socketio
from flask import Flask
from livetest import new_payment
from werkzeug.serving import BaseWSGIServer, make_server

from crm_pay.app import create_app
from crm_pay.current import get_context
from crm_pay.live_publisher import use_write_only_emitter
from crm_pay.services.access import Principal, create_user
from crm_pay.services.context import Context
from crm_pay.services.payments import cancel_payment
from paytest import token_of

pytestmark = pytest.mark.redis

REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 3
PASSWORD = "a-long-test-password"
# The console session record keeps the browser it was signed in from.
USER_AGENT = "crm-pay-live-test"


def _redis_reachable() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def queue_url() -> str:
    if not _redis_reachable():
        pytest.skip(f"needs Redis on {REDIS_HOST}:{REDIS_PORT} (CI runs one)")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"


@pytest.fixture
def channel() -> str:
    """A channel of this run only: parallel runs on one Redis never see each other."""
    return f"crm-pay-test-{uuid.uuid4().hex}"


@pytest.fixture
def web(app: Flask, queue_url: str, channel: str) -> Iterator[tuple[Flask, str]]:
    """A second app on the test database, with the message queue, served over HTTP."""
    config = {k: v for k, v in app.config.items() if k.startswith("CRM_PAY_")}
    config.update(
        TESTING=True,
        SECRET_KEY="redis-test-secret",
        CRM_PAY_SOCKETIO_MESSAGE_QUEUE=queue_url,
        CRM_PAY_SOCKETIO_CHANNEL=channel,
        CRM_PAY_SECURE_COOKIES=False,
    )
    web_app = create_app(config, instance_path=app.instance_path)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, web_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield web_app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)
    get_context(web_app).db.dispose()


def _session_cookie(base: str, email: str) -> str:
    with requests.Session() as http:
        http.headers["User-Agent"] = USER_AGENT
        form = http.get(f"{base}/pay/agent/login", timeout=5).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        resp = http.post(
            f"{base}/pay/agent/login",
            data={"email": email, "password": PASSWORD, "csrf_token": csrf.group(1)},
            allow_redirects=False,
            timeout=5,
        )
        assert resp.status_code == 302, resp.text
        return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def _wait_for_subscriber(queue_url: str, channel: str) -> None:
    """The web process subscribes in a background thread once its first client connects."""
    import redis

    with redis.Redis.from_url(queue_url) as r:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if dict(r.pubsub_numsub(channel)).get(channel.encode(), 0) >= 1:
                return
            time.sleep(0.05)
    raise AssertionError(f"the web process never subscribed to {channel}")


@dataclasses.dataclass
class Agent:
    """A console user whose socket the web process holds, and what it received."""

    user_id: int
    email: str
    client: socketio.Client
    payment_status: queue.Queue[dict[str, Any]]
    incoming_call: queue.Queue[dict[str, Any]]


@pytest.fixture
def agent(web: tuple[Flask, str], queue_url: str, channel: str) -> Iterator[Agent]:
    """An agent signed in on the web process, its socket connected to ``/live`` (both
    kinds of event kept), once the web process listens on the queue."""
    web_app, base = web
    email = "agent-redis@example.com"
    user_id = create_user(get_context(web_app), email=email, role="agent", password=PASSWORD)
    client = socketio.Client(reconnection=False)
    found = Agent(user_id, email, client, queue.Queue(), queue.Queue())
    client.on("payment_status", found.payment_status.put, namespace="/live")
    client.on("incoming_call", found.incoming_call.put, namespace="/live")
    client.connect(
        base,
        headers={"Cookie": _session_cookie(base, email), "User-Agent": USER_AGENT},
        namespaces=["/live"],
        socketio_path="/pay/socket.io",
        transports=["polling"],
        wait_timeout=10,
    )
    try:
        _wait_for_subscriber(queue_url, channel)
        yield found
    finally:
        client.disconnect()


@pytest.fixture
def worker(web: tuple[Flask, str]) -> Context:
    """A worker process: the same database, no Socket.IO server, a write-only emitter."""
    worker_ctx = dataclasses.replace(get_context(web[0]), live=None, live_agent=None)
    assert use_write_only_emitter(worker_ctx)
    return worker_ctx


def test_a_worker_event_reaches_the_agent_on_the_web_process(
    web: tuple[Flask, str], agent: Agent, worker: Context
) -> None:
    web_app, base = web
    payment = new_payment(
        get_context(web_app), Principal("user", agent.user_id, agent.email, "agent")
    )
    ack = agent.client.call("watch", {"payment_id": payment["id"]}, namespace="/live", timeout=10)
    assert ack["ok"] is True and ack["snapshot"]["status"] == "awaiting_customer"

    worker.publish(payment["id"], {"status": "awaiting_customer", "link": "sent"})
    event = agent.payment_status.get(timeout=10)
    assert event["link"] == "sent" and event["payment_id"] == payment["id"]

    # the web process's own events go through the queue too (the customer's page)
    token = token_of(payment["pay_url"])
    resp = requests.post(
        f"{base}/pay/p/{token}/events", json={"field": "number", "valid": True}, timeout=5
    )
    assert resp.status_code == 204
    assert agent.payment_status.get(timeout=10)["fields"] == {"number": True}

    # a real use case run in the worker
    cancel_payment(worker, payment["id"], actor="worker")
    assert agent.payment_status.get(timeout=10)["status"] == "cancelled"


def test_an_incoming_call_from_a_worker_reaches_only_that_agents_socket(
    agent: Agent, worker: Context
) -> None:
    """The screen-pop's own event (``incoming_call``, room ``agent:<id>``) goes through
    the same queue: published by a worker, delivered by the web process."""
    call_sid = "CA" + "12" * 16
    worker.publish_to_agent(agent.user_id + 1000, {"caller": "+12125550101", "call_sid": call_sid})
    worker.publish_to_agent(
        agent.user_id, {"caller": "+12125550101", "call_sid": call_sid, "matches": []}
    )
    event = agent.incoming_call.get(timeout=10)
    assert event["call_sid"] == call_sid and event["matches"] == []
    assert agent.incoming_call.empty()  # the other agent's event never came here
