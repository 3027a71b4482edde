"""Clocks a test moves by hand. Neutral (no vendor behaviour).

:class:`Clock` returns aware UTC datetimes: install it as the context's clock
(``Context.clock`` takes any ``() -> datetime``) and as the fake gateway's, so the
janitor's windows, outbox backoff and link expiry all read the same time.
:class:`EpochClock` returns seconds since the epoch, for the adapters that take a
``time.time``-shaped clock (OAuth token expiry in the CRM connectors)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "EpochClock"]


class Clock:
    """Callable returning the current (fake) UTC time; :meth:`advance` moves it on.

    ``now`` is a plain attribute so a test may also set it outright. With ``tick`` each
    call first moves the clock on by that many seconds (every reading differs)."""

    def __init__(self, start: datetime | None = None, *, tick: float = 0.0) -> None:
        self.now = start or datetime.now(UTC)
        if self.now.tzinfo is None:
            raise ValueError("Clock needs an aware datetime (UTC)")
        self.tick = timedelta(seconds=tick)

    def __call__(self) -> datetime:
        self.now += self.tick
        return self.now

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move on by ``seconds`` (and/or ``minutes=``, ``hours=``, ``days=``); returns the
        new time."""
        self.now += timedelta(seconds=seconds, **delta)
        return self.now


class EpochClock:
    """Callable returning (fake) seconds since the epoch; ``now`` is set or advanced by
    hand."""

    def __init__(self, now: float = 1_767_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now
