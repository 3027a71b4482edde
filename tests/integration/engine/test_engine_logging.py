"""A card number logged on any of crm-pay's loggers comes out redacted, and crm-pay
leaves every other logger of the process as it found it."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from vault import PanRedactingFilter


def test_crm_pays_loggers_redact_card_numbers(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("crm_pay.payments").warning("customer read out %s", "4111 1111 1111 1111")
    logging.getLogger("agent_ui").warning("note %s", "4005-5192-0000-0004")
    logging.getLogger("connectors.crm.webhook").error("payload=%s", {"number": "4111111111111111"})
    logging.getLogger("braintree").info("card 5555555555554444 exp 12/30")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "4111" not in text and "5555555555554444" not in text and "0004" not in text
    assert text.count("[REDACTED PAN]") == 4


def test_other_loggers_and_the_record_factory_are_left_alone(app: Flask) -> None:
    # The host's loggers are the host's: crm-pay installs nothing on them (the embedding
    # test, tests/integration/test_embedding_host_app.py, proves a host's logs unchanged;
    # the standalone app's own logger is named "crm_pay", so it is crm-pay's here).
    for logger in (logging.getLogger(), logging.getLogger("some.library")):
        assert not any(isinstance(f, PanRedactingFilter) for f in logger.filters)
        for handler in logger.handlers:
            assert not any(isinstance(f, PanRedactingFilter) for f in handler.filters)
    assert not getattr(logging.getLogRecordFactory(), "_redacts_pans", False)
