"""Live payment status over Socket.IO, for the agent console.

Protocol (the console's JavaScript is written against exactly this):

- Socket.IO path ``{prefix}/socket.io``, namespace ``/live``. The connection is
  authenticated by the console's sign-in session cookie; without a signed-in user it is
  refused.
- Client -> server ``watch`` ``{"payment_id": "pay_..."}``. Allowed for the agent who
  created the payment, and for supervisors and admins. Ack: ``{"ok": true, "snapshot":
  {...}}`` (the payment's current state, shaped like a ``payment_status`` event) or
  ``{"ok": false, "error": "not allowed"}``. ``unwatch`` ``{"payment_id": ...}`` leaves.
- Server -> client ``payment_status``: a dict of whitelisted keys only (see
  :mod:`crm_pay.live_publisher`): statuses and field-validity flags, never card digits.
- Each signed-in socket is in its user's room ``agent:<user id>`` from connect on (no
  message joins another's); server -> client ``incoming_call`` ``{"caller", "call_sid",
  "matches": [{"crm_ref", "name", "url"}], "at"}`` when a call is handed to that agent
  (the screen-pop, :mod:`crm_pay.services.calls`; its own whitelist in the publisher).

With ``CRM_PAY_SOCKETIO_MESSAGE_QUEUE`` set (``redis://...``), several web processes and
the ``crm-pay worker`` processes share one channel, so an event published anywhere
reaches the agent's socket whichever web process holds it.

Ending a console session closes its sockets. The user loader re-checks the session
record on every event (a revoked socket is disconnected at its next message), and each
web process sweeps its own sockets against the ``console_sessions`` table every
:data:`SWEEP_SECONDS`: the database is shared by all processes, so a sign-out,
"sign out everywhere" or deactivation in any process closes the sockets held by every
other process within a second, with no message on the queue. The sweep thread runs
only while the process holds a signed-in socket.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask_socketio import SocketIO, disconnect, join_room, leave_room, rooms

from crm_pay import live_publisher
from crm_pay.config import CrmPayConfig
from crm_pay.current import get_context
from crm_pay.services import console_sessions
from crm_pay.services.access import Principal
from crm_pay.services.live_access import can_watch, snapshot

from .auth import current_console_user
from .console_session import console_cookie

__all__ = ["socketio", "init_live", "current_principal", "SWEEP_SECONDS", "SessionSockets"]

log = logging.getLogger("crm_pay.live")

#: The Socket.IO extension object. ``init_app`` gives each app its own server; the
#: live-status publisher of an app is bound to that app's server.
socketio = SocketIO()

# One agent follows a handful of payments at a time; a cap keeps a socket cheap.
_MAX_WATCHED = 50
# Agents send tiny JSON messages; nothing larger needs to be read.
_MAX_MESSAGE_BYTES = 16 * 1024
_NOT_ALLOWED = {"ok": False, "error": "not allowed"}
#: How often a process re-checks the sessions of its sockets (revocation closes a
#: socket within this time, plus one database read).
SWEEP_SECONDS = 0.4
_EXTENSION = "crm_pay_live_sessions"


class SessionSockets:
    """This process's signed-in sockets and the stored key of their console session;
    a sweep thread runs while there are any."""

    def __init__(self) -> None:
        self.by_sid: dict[str, str] = {}
        self.lock = threading.Lock()
        self.sweeping = False

    def add(self, sid: str, key: str) -> bool:
        """Track a socket; True when the caller must start the sweep thread."""
        with self.lock:
            self.by_sid[sid] = key
            start = not self.sweeping
            self.sweeping = True
            return start

    def remove(self, sid: str) -> None:
        with self.lock:
            self.by_sid.pop(sid, None)

    def snapshot(self) -> dict[str, str] | None:
        """The tracked sockets, or None (and the sweep stops) when there are none."""
        with self.lock:
            if not self.by_sid:
                self.sweeping = False
                return None
            return dict(self.by_sid)


def current_principal() -> Principal | None:
    """The signed-in console user's :class:`Principal`, or None.

    Read from crm-pay's console cookie sent with the Socket.IO handshake, and its
    session record checked again at each event; None when nobody is signed in."""
    user = current_console_user(recheck=True)
    return user.principal if user is not None else None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _allowed_origins(config: CrmPayConfig) -> list[str]:
    """Browsers may open a socket from our public origin and any configured extra ones
    (e.g. the host agents use inside the contact center)."""
    extra = [o.strip() for o in (config.socketio_cors_origins or "").split(",") if o.strip()]
    return [_origin(config.public_url), *extra]


def init_live(app: Flask, prefix: str) -> None:
    """Attach Socket.IO at ``{prefix}/socket.io`` and install the app's live-status
    publisher (``ctx.live``)."""
    config = get_context(app).config
    queue = config.socketio_message_queue or None
    channel = config.socketio_channel
    # The manager is built here rather than from ``message_queue=``: the module-level
    # SocketIO object keeps options between apps, and an app without a queue must not
    # inherit the previous app's.
    socketio.init_app(
        app,
        async_mode="threading",
        path=f"{prefix}/socket.io",
        client_manager=live_publisher.client_manager(queue, channel=channel),
        cors_allowed_origins=_allowed_origins(config),
        max_http_buffer_size=_MAX_MESSAGE_BYTES,
    )
    live_publisher.install(get_context(app), socketio.server, message_queue=queue, channel=channel)
    app.extensions[_EXTENSION] = SessionSockets()


def _sweep(app: Flask, tracked: SessionSockets) -> None:
    """Disconnect this process's sockets whose console session ended; stops when the
    process holds no signed-in socket."""
    idle = get_context(app).config.idle_timeout
    while True:
        socketio.sleep(SWEEP_SECONDS)
        sockets = tracked.snapshot()
        if sockets is None:
            return
        try:
            with app.app_context():
                live_keys = console_sessions.alive(
                    get_context(), set(sockets.values()), idle_seconds=idle
                )
        except Exception:  # a failed read must not kill the sweep; retried next round
            log.exception("live: could not re-check socket sessions")
            continue
        for sid, key in sockets.items():
            if key not in live_keys:
                tracked.remove(sid)
                log.info("live: closing a socket whose console session ended")
                socketio.server.disconnect(sid, namespace=live_publisher.NAMESPACE)


@socketio.on("connect", namespace=live_publisher.NAMESPACE)
def _connect(auth: Any = None) -> bool:
    """Only signed-in console users may connect; the socket is tied to the console
    session it was opened with and closes when that session ends."""
    principal = current_principal()
    if principal is None:
        return False
    # the user's own room: calls handed to this agent pop on every console tab they have
    join_room(live_publisher.agent_room(str(principal.id)))
    sid = console_cookie().get("sid")
    tracked = current_app.extensions.get(_EXTENSION)
    if isinstance(sid, str) and sid and tracked is not None:
        key = console_sessions.session_key(get_context(), sid)
        if tracked.add(request.sid, key):  # type: ignore[attr-defined]
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            socketio.start_background_task(_sweep, app, tracked)
    return True


@socketio.on("disconnect", namespace=live_publisher.NAMESPACE)
def _disconnect(*_: Any) -> None:
    tracked = current_app.extensions.get(_EXTENSION)
    if tracked is not None:
        tracked.remove(request.sid)  # type: ignore[attr-defined]


def _signed_in_or_close() -> Principal | None:
    """The socket's user, re-checked at this event; a socket whose session ended is
    closed here."""
    principal = current_principal()
    if principal is None:
        disconnect()
    return principal


def _payment_id(data: Any) -> Any:
    return data.get("payment_id") if isinstance(data, dict) else None


@socketio.on("watch", namespace=live_publisher.NAMESPACE)
def _watch(data: Any = None) -> dict[str, Any]:
    principal = _signed_in_or_close()
    if principal is None:
        return dict(_NOT_ALLOWED)
    payment_id = _payment_id(data)
    ctx = get_context()
    if not can_watch(ctx, principal, payment_id):
        log.warning(
            "live: %s was refused payment %r",
            principal.actor if principal else "anonymous",
            payment_id if isinstance(payment_id, str) else type(payment_id).__name__,
        )
        return dict(_NOT_ALLOWED)
    room = live_publisher.room_for(payment_id)
    if room not in rooms(namespace=live_publisher.NAMESPACE) and len(rooms()) > _MAX_WATCHED:
        return {"ok": False, "error": "too many payments watched"}
    join_room(room)
    state = live_publisher.clean_event(payment_id, snapshot(ctx, payment_id)) or {
        "payment_id": payment_id
    }
    return {"ok": True, "snapshot": state}


@socketio.on("unwatch", namespace=live_publisher.NAMESPACE)
def _unwatch(data: Any = None) -> dict[str, Any]:
    if _signed_in_or_close() is None:
        return dict(_NOT_ALLOWED)
    payment_id = _payment_id(data)
    if isinstance(payment_id, str):
        leave_room(live_publisher.room_for(payment_id))
    return {"ok": True}
