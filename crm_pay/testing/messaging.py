"""``FakeMailer`` and ``FakeSms``: in-memory senders implementing
:class:`crm_pay.ports.EmailSender` and :class:`crm_pay.ports.SmsSender`. Neutral fakes:
they keep what they were asked to send (``sent``) and can be told to fail, temporarily
(any exception: the outbox retries) or for good (``DeliveryFailed``: no retry), as
crm-pay's port contract says a real provider does."""

from __future__ import annotations

from typing import Generic, TypeVar

from crm_pay.ports import DeliveryFailed, OutgoingEmail, OutgoingSms

__all__ = ["FakeMailer", "FakeSms"]

T = TypeVar("T")


class _FakeSender(Generic[T]):  # noqa: UP046 - the package supports Python 3.11
    name = "fake"

    def __init__(self) -> None:
        self.sent: list[T] = []
        self.attempts: list[T] = []
        self._failures: list[Exception] = []

    def fail_next(self, count: int = 1, error: Exception | None = None) -> None:
        """The next ``count`` sends raise ``error`` (default: a temporary ``OSError``)."""
        self._failures.extend([error or OSError("fake provider unavailable")] * count)

    def refuse_next(self, reason: str = "mailbox does not exist") -> None:
        """The next send is refused for good (``DeliveryFailed``)."""
        self._failures.append(DeliveryFailed(reason))

    def send(self, message: T) -> None:
        self.attempts.append(message)
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(message)


class FakeMailer(_FakeSender[OutgoingEmail]):
    """Emails that were sent (``sent``), and every attempt including failed ones."""

    def to(self, address: str) -> list[OutgoingEmail]:
        """The emails sent to ``address``."""
        return [m for m in self.sent if m.to == address]


class FakeSms(_FakeSender[OutgoingSms]):
    """Text messages that were sent (``sent``), and every attempt including failed ones."""

    def to(self, number: str) -> list[OutgoingSms]:
        return [m for m in self.sent if m.to == number]
