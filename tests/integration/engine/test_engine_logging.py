"""A card number logged anywhere in the process comes out redacted."""

from __future__ import annotations

import logging

import pytest
from flask import Flask


def test_any_logger_redacts_card_numbers(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("crm_pay.payments").warning("customer read out %s", "4111 1111 1111 1111")
    logging.getLogger("some.library").error("payload=%s", {"number": "4111111111111111"})
    app.logger.info("note: card 5555555555554444 exp 12/30")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "4111" not in text and "5555555555554444" not in text
    assert text.count("[REDACTED PAN]") == 3
