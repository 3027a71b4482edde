"""Live payment status: what an agent's screen may be told, and how it is sent.

Services call ``ctx.publish(payment_id, event)``; this module turns that into a Socket.IO
event ``payment_status`` for the room ``payment:<id>`` of the namespace ``/live``. It is
the last gate before a message leaves the process, so it keeps a **whitelist**:

============== ===================================================================
key            value
============== ===================================================================
payment_id     the payment's id (set here, from the publish call)
status         a payment status, e.g. ``processing``
link           ``"sent"`` or ``"opened"``
channel        how the link was sent: ``"email"`` or ``"sms"``
fields         ``{"number"|"expirationDate"|"cvv"|"postalCode": bool}``
receipt_number the receipt's number
decline        ``{"message": str, "next_step": str}``: plain words, nothing else
attempts_left  int
attempt        int: the number of the customer's attempt in progress or last made; a
               number above the declined one means the customer is trying again
field_problems ``{"number"|"expirationDate"|"cvv"|"postalCode": bool}``: the entry
               looks wrong (it cannot become valid, or the customer left it unfinished)
asked_again    a field name from ``fields``: the agent asked the customer to enter it again
keypad         a keypad capture's progress: ``{"session": str, "field": str|None,
               "words": str, "done": bool, "ended": bool}``, the words as the agent
               reads them (masked digits only, e.g. "Card number ✓ (xxxxxxxxxxxx1111)")
at             ISO 8601 time of the event (set here when the caller gave none)
============== ===================================================================

Any other key is dropped, a value of the wrong type is dropped, and a string the PAN
detector flags is dropped and logged (without the string): a card number can never reach
an agent's socket, whatever a caller passes in.

The web process emits through its own ``flask_socketio.SocketIO`` server. A ``crm-pay
worker`` process has no Socket.IO server; with ``CRM_PAY_SOCKETIO_MESSAGE_QUEUE`` set it
emits through a write-only client of that queue (:func:`make_publisher` given the URL),
and the web processes deliver to their sockets.

After each message whose status is an outcome, the publisher also nudges open dashboards
(:mod:`crm_pay.dashboard_nudge`: ``dashboard_changed``, a time only, throttled).

**Incoming calls** (the screen-pop) have their own event and their own, smaller
whitelist: ``ctx.publish_to_agent(user_id, event)`` becomes ``incoming_call`` for the room
``agent:<user id>``, which each signed-in console socket joins on connect
(:func:`clean_call_event`):

============== ===================================================================
key            value
============== ===================================================================
caller         the caller's number, E.164 (``+12125550101``)
call_sid       the provider's Call SID (``CA`` + 32 hex digits)
matches        up to 20 ``{"crm_ref": str, "name": str, "url": str}``: the customers
               the number matched, ``url`` the console's page of the customer (a path
               on this site, with the call SID)
at             ISO 8601 time of the event (set here)
============== ===================================================================

No Flask or web code is imported at module level: workers and services can use it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import socketio

from crm_pay.dashboard_nudge import DashboardNudge
from crm_pay.services.context import Context, LiveStatus
from vault.pan import contains_pan

__all__ = [
    "NAMESPACE",
    "EVENT",
    "FIELDS",
    "LINK_STATES",
    "DEFAULT_CHANNEL",
    "room_for",
    "clean_event",
    "CALL_EVENT",
    "agent_room",
    "clean_call_event",
    "make_agent_publisher",
    "make_publisher",
    "client_manager",
    "install",
    "use_write_only_emitter",
]

log = logging.getLogger("crm_pay.live")

#: Socket.IO namespace agents connect to.
NAMESPACE = "/live"
#: The one server -> client event.
EVENT = "payment_status"
#: Hosted-fields field names whose validity the customer page reports.
FIELDS = frozenset({"number", "expirationDate", "cvv", "postalCode"})
LINK_STATES = frozenset({"sent", "opened"})
#: Message-queue channel shared by web and worker processes (``CRM_PAY_SOCKETIO_CHANNEL``).
DEFAULT_CHANNEL = "crm-pay-live"

# Generous bounds: a status is a short word, a decline message a sentence or two.
_MAX_SHORT = 64
_MAX_TEXT = 500

#: The server -> client event of a call handed to the agent (the screen-pop).
CALL_EVENT = "incoming_call"
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
# A page of this site: one leading slash (never "//host", another site), no scheme.
_SITE_PATH = re.compile(r"/(?!/)[^\s\\]{0,400}")
_MAX_MATCHES = 20
_MAX_NAME = 300  # customers.name


class Emitter(Protocol):
    """What can send a Socket.IO event: ``socketio.Server``, ``flask_socketio.SocketIO``."""

    def emit(self, event: str, data: Any = ..., *, to: str, namespace: str) -> Any: ...


def room_for(payment_id: str) -> str:
    """The room whose members are watching ``payment_id``."""
    return f"payment:{payment_id}"


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str) or not value or len(value) > limit:
        return None
    return value


def _fields(value: Any) -> dict[str, bool] | None:
    if not isinstance(value, Mapping):
        return None
    flags = {k: v for k, v in value.items() if k in FIELDS and isinstance(v, bool)}
    return flags or None


def _decline(value: Any) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        return None
    out = {k: t for k in ("message", "next_step") if (t := _text(value.get(k), _MAX_TEXT))}
    return out or None


def _attempts(value: Any) -> int | None:
    # bool is an int subclass; True is not a number of attempts
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1000:
        return value
    return None


def _keypad(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    out: dict[str, Any] = {}
    for key, limit in (("session", _MAX_SHORT), ("field", _MAX_SHORT), ("words", _MAX_TEXT)):
        if (text := _text(value.get(key), limit)) is not None:
            out[key] = text
    out |= {k: value[k] for k in ("done", "ended") if isinstance(value.get(k), bool)}
    return out or None


_SHAPES = {
    "status": lambda v: _text(v, _MAX_SHORT),
    "link": lambda v: v if isinstance(v, str) and v in LINK_STATES else None,
    "channel": lambda v: v if v in ("email", "sms") else None,
    "fields": _fields,
    "receipt_number": lambda v: _text(v, _MAX_SHORT),
    "decline": _decline,
    "attempts_left": _attempts,
    "attempt": _attempts,
    "field_problems": _fields,
    "asked_again": lambda v: v if isinstance(v, str) and v in FIELDS else None,
    "keypad": _keypad,
    "at": lambda v: _text(v, _MAX_SHORT),
}


def _has_pan(value: Any) -> bool:
    if isinstance(value, str):
        return contains_pan(value)
    if isinstance(value, Mapping):
        return any(_has_pan(k) or _has_pan(v) for k, v in value.items())
    return False


def clean_event(
    payment_id: str, event: Mapping[str, Any], *, now: datetime | None = None
) -> dict[str, Any] | None:
    """The whitelisted message for ``event``, or None when nothing of it may be sent."""
    pid = _text(payment_id, _MAX_SHORT)
    if pid is None or contains_pan(pid):
        log.warning("live status: refused an event with an invalid payment id")
        return None
    message: dict[str, Any] = {}
    for key, value in event.items():
        shaped = _SHAPES[key](value) if key in _SHAPES else None
        if shaped is None:
            if key not in _SHAPES:  # e.g. a detail the console has no use for
                log.debug("live status for %s: dropped key %r", pid, key)
            elif value is not None:
                log.warning("live status for %s: dropped %r, not a valid value", pid, key)
            continue
        if _has_pan(shaped):
            log.error("live status for %s: dropped %r, it looked like a card number", pid, key)
            continue
        message[key] = shaped
    if not message or set(message) == {"at"}:
        return None
    message["payment_id"] = pid
    message.setdefault("at", (now or datetime.now(UTC)).isoformat())
    return message


def agent_room(user_id: str) -> str:
    """The room of one console user's sockets (every tab they have open)."""
    return f"agent:{user_id}"


def _match(value: Any) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        return None
    crm_ref = _text(value.get("crm_ref"), 100)
    name = _text(value.get("name"), _MAX_NAME)
    url = value.get("url")
    if crm_ref is None or not isinstance(url, str) or not _SITE_PATH.fullmatch(url):
        return None
    out = {"crm_ref": crm_ref, "name": name or crm_ref, "url": url}
    if _has_pan(out):
        log.error("incoming call: dropped a match, it looked like a card number")
        return None
    return out


def clean_call_event(
    event: Mapping[str, Any], *, now: datetime | None = None
) -> dict[str, Any] | None:
    """The whitelisted ``incoming_call`` message for ``event``, or None when its caller
    or call SID is not one (nothing is sent without both)."""
    caller, call_sid = event.get("caller"), event.get("call_sid")
    if not (isinstance(caller, str) and _E164.fullmatch(caller)) or contains_pan(caller):
        log.warning("incoming call: refused an event without a valid caller number")
        return None
    if not (isinstance(call_sid, str) and _CALL_SID.fullmatch(call_sid)):
        log.warning("incoming call: refused an event without a valid call SID")
        return None
    found = event.get("matches")
    matches = [m for m in (_match(v) for v in found) if m] if isinstance(found, list) else []
    return {
        "caller": caller,
        "call_sid": call_sid,
        "matches": matches[:_MAX_MATCHES],
        "at": (now or datetime.now(UTC)).isoformat(),
    }


def make_agent_publisher(target: Emitter | str, *, channel: str = DEFAULT_CHANNEL) -> LiveStatus:
    """A ``ctx.live_agent`` callback emitting whitelisted ``incoming_call`` events to
    ``agent:<user id>`` on ``/live``; ``target`` as for :func:`make_publisher`. Never
    raises: the call goes on, the agent can still search by number."""
    emitter = _emitter(target, channel)

    def publish(user_id: str, event: dict[str, Any]) -> None:
        message = clean_call_event(event)
        if message is None:
            return
        try:
            emitter.emit(CALL_EVENT, message, to=agent_room(user_id), namespace=NAMESPACE)
        except Exception:  # noqa: BLE001 - a queue outage must not fail the call event
            log.exception("incoming call for agent %s could not be sent", user_id)

    return publish


def _emitter(target: Emitter | str, channel: str) -> Any:
    """``target`` itself, or a write-only emitter of the message queue at that URL."""
    if isinstance(target, str):
        return socketio.Server(
            async_mode="threading",
            client_manager=client_manager(target, channel=channel, write_only=True),
        )
    return target


def client_manager(url: str | None, *, channel: str, write_only: bool = False) -> Any:
    """The python-socketio client manager for a message queue URL (None: this process
    only). ``redis://``/``rediss://`` use Redis; other URLs go through Kombu."""
    if not url:
        return socketio.Manager()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return socketio.RedisManager(url, channel=channel, write_only=write_only)
    return socketio.KombuManager(url, channel=channel, write_only=write_only)


def make_publisher(target: Emitter | str, *, channel: str = DEFAULT_CHANNEL) -> LiveStatus:
    """A ``ctx.live`` callback emitting whitelisted events to ``payment:<id>`` on ``/live``.

    ``target`` is the web process's Socket.IO server, or a message-queue URL: then a
    write-only emitter (what a worker process uses). Publishing never raises: live status
    is a courtesy to the agent and must not fail the payment that triggered it."""
    emitter = _emitter(target, channel)
    nudge = DashboardNudge(emitter.emit, namespace=NAMESPACE)  # open dashboards refetch

    def publish(payment_id: str, event: dict[str, Any]) -> None:
        message = clean_event(payment_id, event)
        if message is None:
            return
        try:
            emitter.emit(EVENT, message, to=room_for(message["payment_id"]), namespace=NAMESPACE)
        except Exception:  # noqa: BLE001 - a queue outage must not fail a payment
            log.exception("live status for %s could not be sent", message["payment_id"])
        nudge.after(message)

    return publish


def install(
    ctx: Context, server: Emitter, *, message_queue: str | None, channel: str = DEFAULT_CHANNEL
) -> None:
    """Web process: publish through ``server``, and remember the queue (if any) so that
    :func:`use_write_only_emitter` can switch a worker process over to it."""
    ctx.live = make_publisher(server, channel=channel)
    ctx.live_agent = make_agent_publisher(server, channel=channel)
    ctx.live_queue = (message_queue, channel) if message_queue else None


def use_write_only_emitter(ctx: Context) -> bool:
    """In a worker process: send live status through the message queue the web app was
    configured with (if any). Returns whether one was installed."""
    queue = ctx.live_queue
    if not queue:
        return False
    url, channel = queue
    emitter = _emitter(url, channel)  # one queue client for both kinds of event
    ctx.live = make_publisher(emitter, channel=channel)
    ctx.live_agent = make_agent_publisher(emitter, channel=channel)
    return True
