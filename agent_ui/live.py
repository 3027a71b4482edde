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
  :mod:`crm_pay.live`): statuses and field-validity flags, never card digits.

With ``CRM_PAY_SOCKETIO_MESSAGE_QUEUE`` set (``redis://...``), several web processes and
the ``crm-pay worker`` processes share one channel, so an event published anywhere
reaches the agent's socket whichever web process holds it.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_socketio import SocketIO, join_room, leave_room, rooms

from crm_pay import live
from crm_pay.extension import get_context
from crm_pay.services.access import Principal
from crm_pay.services.live_access import can_watch, snapshot

__all__ = ["socketio", "init_live", "current_principal"]

log = logging.getLogger("crm_pay.live")

#: The Socket.IO extension object. ``init_app`` gives each app its own server; the
#: live-status publisher of an app is bound to that app's server.
socketio = SocketIO()

# One agent follows a handful of payments at a time; a cap keeps a socket cheap.
_MAX_WATCHED = 50
# Agents send tiny JSON messages; nothing larger needs to be read.
_MAX_MESSAGE_BYTES = 16 * 1024
_NOT_ALLOWED = {"ok": False, "error": "not allowed"}


def current_principal() -> Principal | None:
    """The signed-in console user's :class:`Principal`, or None.

    Reads ``flask_login.current_user.principal``; None when nobody is signed in (or the
    app has no sign-in set up)."""
    if getattr(current_app, "login_manager", None) is None:
        return None
    import flask_login

    user = flask_login.current_user
    if user is None or not user.is_authenticated:
        return None
    principal = getattr(user, "principal", None)
    return principal if isinstance(principal, Principal) else None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _allowed_origins(config: Any) -> list[str]:
    """Browsers may open a socket from our public origin and any configured extra ones
    (e.g. the host agents use inside the contact center)."""
    extra = config["CRM_PAY_SOCKETIO_CORS_ORIGINS"] or []
    if isinstance(extra, str):
        extra = [o.strip() for o in extra.split(",") if o.strip()]
    return [_origin(config["CRM_PAY_PUBLIC_URL"]), *extra]


def init_live(app: Flask, prefix: str) -> None:
    """Attach Socket.IO at ``{prefix}/socket.io`` and install the app's live-status
    publisher (``ctx.live``)."""
    cfg = app.config
    queue = cfg["CRM_PAY_SOCKETIO_MESSAGE_QUEUE"] or None
    channel = cfg["CRM_PAY_SOCKETIO_CHANNEL"]
    # The manager is built here rather than from ``message_queue=``: the module-level
    # SocketIO object keeps options between apps, and an app without a queue must not
    # inherit the previous app's.
    socketio.init_app(
        app,
        async_mode="threading",
        path=f"{prefix}/socket.io",
        client_manager=live.client_manager(queue, channel=channel),
        cors_allowed_origins=_allowed_origins(cfg),
        max_http_buffer_size=_MAX_MESSAGE_BYTES,
    )
    live.install(get_context(app), socketio.server, message_queue=queue, channel=channel)


@socketio.on("connect", namespace=live.NAMESPACE)
def _connect(auth: Any = None) -> bool:
    """Only signed-in console users may connect."""
    return current_principal() is not None


def _payment_id(data: Any) -> Any:
    return data.get("payment_id") if isinstance(data, dict) else None


@socketio.on("watch", namespace=live.NAMESPACE)
def _watch(data: Any = None) -> dict[str, Any]:
    principal = current_principal()
    payment_id = _payment_id(data)
    ctx = get_context()
    if not can_watch(ctx, principal, payment_id):
        log.warning(
            "live: %s was refused payment %r",
            principal.actor if principal else "anonymous",
            payment_id if isinstance(payment_id, str) else type(payment_id).__name__,
        )
        return dict(_NOT_ALLOWED)
    room = live.room_for(payment_id)
    if room not in rooms(namespace=live.NAMESPACE) and len(rooms()) > _MAX_WATCHED:
        return {"ok": False, "error": "too many payments watched"}
    join_room(room)
    state = live.clean_event(payment_id, snapshot(ctx, payment_id)) or {"payment_id": payment_id}
    return {"ok": True, "snapshot": state}


@socketio.on("unwatch", namespace=live.NAMESPACE)
def _unwatch(data: Any = None) -> dict[str, Any]:
    payment_id = _payment_id(data)
    if isinstance(payment_id, str):
        leave_room(live.room_for(payment_id))
    return {"ok": True}
