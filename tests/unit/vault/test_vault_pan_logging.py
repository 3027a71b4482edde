"""No card number reaches a log handler once the PAN filter is installed."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from vault import REDACTED_PAN, PanRedactingFilter, install_pan_filter

VISA = "4111111111111111"


@dataclass
class CapturedLogger:
    logger: logging.Logger
    stream: io.StringIO

    @property
    def output(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def captured(request: pytest.FixtureRequest) -> Iterator[CapturedLogger]:
    logger = logging.getLogger(f"test_vault.{request.node.name}")
    logger.setLevel(logging.DEBUG)
    # Propagating: pytest 9 attaches its own capture handlers (the ones on the root
    # logger) to every logger that does not propagate, and install_pan_filter would then
    # put a filter on pytest's shared handlers, seen by every later test.
    logger.propagate = True
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    yield CapturedLogger(logger, stream)
    logger.removeHandler(handler)
    for log_filter in list(logger.filters):
        logger.removeFilter(log_filter)


def test_formatted_args_are_redacted(captured: CapturedLogger) -> None:
    install_pan_filter(captured.logger)

    captured.logger.info("card %s", VISA)

    assert captured.output == f"INFO card {REDACTED_PAN}\n"


def test_card_split_across_format_and_args_is_redacted(captured: CapturedLogger) -> None:
    install_pan_filter(captured.logger)

    captured.logger.warning("digits 4111 1111 %s", "1111 1111")

    assert "1111 1111" not in captured.output
    assert REDACTED_PAN in captured.output


def test_lines_without_cards_are_untouched(captured: CapturedLogger) -> None:
    install_pan_filter(captured.logger)
    records: list[logging.LogRecord] = []

    def keep(record: logging.LogRecord) -> bool:
        records.append(record)
        return True

    captured.logger.handlers[0].addFilter(keep)

    captured.logger.info("payment %s settled for %d cents", "pay_123", 1250)

    assert captured.output == "INFO payment pay_123 settled for 1250 cents\n"
    assert records[0].args == ("pay_123", 1250)


def test_exception_text_is_redacted(captured: CapturedLogger) -> None:
    install_pan_filter(captured.logger)

    try:
        raise ValueError(f"PSP rejected card {VISA}")
    except ValueError:
        captured.logger.exception("charge failed")

    assert VISA not in captured.output
    assert "Traceback (most recent call last)" in captured.output
    assert f"ValueError: PSP rejected card {REDACTED_PAN}" in captured.output


def test_exception_without_card_keeps_the_handler_formatting(captured: CapturedLogger) -> None:
    install_pan_filter(captured.logger)

    try:
        raise KeyError("invoice")
    except KeyError:
        captured.logger.exception("lookup failed")

    assert "KeyError: 'invoice'" in captured.output


def test_string_and_structured_extras_are_redacted(captured: CapturedLogger) -> None:
    captured.logger.handlers[0].setFormatter(
        logging.Formatter("%(message)s | %(note)s | %(payload)s")
    )
    install_pan_filter(captured.logger)

    captured.logger.info("note saved", extra={"note": f"card {VISA}", "payload": {"text": [VISA]}})

    assert VISA not in captured.output
    assert captured.output.count(REDACTED_PAN) == 2


def test_child_logger_records_are_redacted_by_the_handler_filter(
    captured: CapturedLogger,
) -> None:
    install_pan_filter(captured.logger)

    captured.logger.getChild("psp").error("declined %s", VISA)

    assert captured.output == f"ERROR declined {REDACTED_PAN}\n"


def test_a_logger_filter_alone_would_miss_child_records(captured: CapturedLogger) -> None:
    # Why install_pan_filter() also filters handlers: Python runs a logger's filters
    # only for records created on that logger, not for those propagated to it.
    captured.logger.addFilter(PanRedactingFilter())

    captured.logger.getChild("psp").error("declined %s", VISA)

    assert VISA in captured.output


def test_bad_format_call_does_not_leak_or_raise(
    captured: CapturedLogger, capsys: pytest.CaptureFixture[str]
) -> None:
    install_pan_filter(captured.logger)

    captured.logger.info("card %d", VISA)

    assert VISA not in captured.output
    assert VISA not in capsys.readouterr().err
    assert REDACTED_PAN in captured.output


def test_installing_twice_does_not_stack_filters(captured: CapturedLogger) -> None:
    first = install_pan_filter(captured.logger)
    second = install_pan_filter(captured.logger)

    assert first is second
    assert len(captured.logger.filters) == 1
    assert len(captured.logger.handlers[0].filters) == 1
