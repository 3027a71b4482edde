"""The dashboard's live nudge: after a payment reaches an outcome, tell the open
dashboards that their figures moved, at most once every :data:`MIN_INTERVAL_SECONDS`.

The message, ``dashboard_changed`` to the room :data:`ROOM` of namespace ``/live``, holds
nothing but the time (``{"at": "<ISO 8601>"}``): the page fetches the figures again over
HTTP, where the dashboard's role check applies. No payment, customer or card data is
ever in it. The first nudge of a quiet period goes at once; nudges inside the interval
are folded into one sent when the interval ends (a trailing timer), so the last change
is never left unshown. Each process throttles its own nudges.

Installed by :func:`crm_pay.live_publisher.make_publisher` beside the payment-status
emitter, so web and worker processes nudge through the same server or message queue.
No Flask or web code is imported: workers use it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from crm_pay.domain.payment import SUCCESSFUL, TERMINAL

__all__ = ["ROOM", "EVENT", "MIN_INTERVAL_SECONDS", "OUTCOMES", "DashboardNudge"]

log = logging.getLogger("crm_pay.live")

#: The Socket.IO room of open dashboards (joined with ``watch_dashboard``).
ROOM = "dashboard"
#: The server -> client event.
EVENT = "dashboard_changed"
#: At most one nudge per process in this many seconds.
MIN_INTERVAL_SECONDS = 3.0
#: Payment statuses after which the dashboard's figures have moved.
OUTCOMES = frozenset(str(s) for s in (*SUCCESSFUL, *TERMINAL, "declined", "failed", "unknown"))


class DashboardNudge:
    """Throttled ``dashboard_changed`` emitter. ``emit(event, data, to=, namespace=)`` is
    the Socket.IO server or write-only emitter the payment status goes through."""

    def __init__(
        self,
        emit: Callable[..., Any],
        *,
        namespace: str,
        interval: float = MIN_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._namespace = namespace
        self._interval = interval
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last: float | None = None
        self._pending = False

    def after(self, message: Mapping[str, Any]) -> None:
        """Called with each payment-status message sent: nudge when it is an outcome."""
        if message.get("status") in OUTCOMES:
            self.poke()

    def poke(self) -> None:
        with self._lock:
            now = self._monotonic()
            if self._last is None or now - self._last >= self._interval:
                self._last = now
                send = True
            else:
                send = False
                if not self._pending:
                    self._pending = True
                    timer = threading.Timer(self._interval - (now - self._last), self._trail)
                    timer.daemon = True
                    timer.start()
        if send:
            self._send()

    def _trail(self) -> None:
        with self._lock:
            self._pending = False
            self._last = self._monotonic()
        self._send()

    def _send(self) -> None:
        try:
            self._emit(
                EVENT,
                {"at": datetime.now(UTC).isoformat()},
                to=ROOM,
                namespace=self._namespace,
            )
        except Exception:  # noqa: BLE001 - a queue outage must not fail a payment
            log.exception("dashboard nudge could not be sent")
