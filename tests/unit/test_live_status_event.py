"""crm_pay.services.live_status: the one builder of the ``payment_status`` event that
agents' screens get, on joining (snapshot) and after a PSP outcome."""

from __future__ import annotations

from datetime import datetime

from crm_pay.services.live_status import event_from_view, status_event


def test_decline_advice_only_next_to_a_declined_or_failed_status() -> None:
    declined = status_event("declined", decline_message="Card declined", decline_next_step=None)
    assert declined["decline"] == {"message": "Card declined", "next_step": ""}
    # the console shows advice for declined/failed only; a reversal carries none
    assert "decline" not in status_event("settlement_declined", decline_message="Reversed")
    assert "decline" not in status_event("settled", decline_message="old advice")


def test_link_attempts_receipt_and_time() -> None:
    event = status_event(
        "settled",
        at=datetime(2026, 1, 2, 3, 4, 5),  # naive: UTC
        attempts_left=-1,
        link_opened=True,
        receipt_number="R-2026-000001",
    )
    assert event == {
        "status": "settled",
        "link": "opened",
        "attempts_left": 0,
        "receipt_number": "R-2026-000001",
        "at": "2026-01-02T03:04:05+00:00",
    }
    assert status_event("processing", link_opened=False)["link"] == "sent"
    assert status_event("processing") == {"status": "processing"}


def test_from_a_payment_view() -> None:
    view = {
        "status": "declined",
        "updated_at": "2026-01-02T03:04:05+00:00",
        "receipt_number": None,
        "decline": {"code": "2001", "message": "Insufficient funds", "next_step": "Try another"},
        "pay_link": {"attempts_left": 2, "state": "open"},
    }
    assert event_from_view(view) == {
        "status": "declined",
        "attempts_left": 2,
        "decline": {"message": "Insufficient funds", "next_step": "Try another"},
        "at": "2026-01-02T03:04:05+00:00",
    }
