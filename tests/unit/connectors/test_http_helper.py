"""connectors.http: the one Retry-After parser, timeout setting and error text every
connector uses (what an admin reads on the sync page, and how long the outbox waits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from connectors.http import (
    MAX_RETRY_AFTER,
    answer_excerpt,
    parse_retry_after,
    retry_after,
    status_failure_text,
    timeout_setting,
    transport_failure_text,
)
from crm_pay.domain.errors import ConfigurationError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CARD = "4111111111111111"  # Braintree's published Visa test number


def _now() -> float:
    return NOW.timestamp()


class _Answer:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), (" 7 ", 7.0), ("1.5", 1.5), ("0", 0.0)],
)
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header, now=_now) == seconds


def test_retry_after_as_an_http_date_is_measured_against_the_clock() -> None:
    header = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(header, now=_now) == pytest.approx(90.0)


def test_retry_after_date_in_the_past_means_now() -> None:
    header = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(header, now=_now) == 0.0


@pytest.mark.parametrize("header", [None, "", "   ", "soon", "-5", "nan", "inf"])
def test_unreadable_retry_after_is_absent(header: str | None) -> None:
    """The caller then uses its own backoff instead of a nonsense delay."""
    assert parse_retry_after(header, now=_now) is None


def test_a_huge_retry_after_is_clamped_to_a_day() -> None:
    assert parse_retry_after("9999999", now=_now) == MAX_RETRY_AFTER
    far = format_datetime(NOW + timedelta(days=30), usegmt=True)
    assert parse_retry_after(far, now=_now) == MAX_RETRY_AFTER


def test_retry_after_of_a_response_and_its_default() -> None:
    assert retry_after(_Answer({"Retry-After": "3"}), now=_now) == 3.0
    assert retry_after(_Answer({"retry-after": "4"}), now=_now) == 4.0  # $batch part headers
    assert retry_after(_Answer({}), now=_now, default=10.0) == 10.0
    assert retry_after(_Answer({"Retry-After": "later"}), now=_now) is None


def test_retry_after_reads_a_real_requests_response() -> None:
    response = requests.Response()
    response.status_code = 429
    response.headers["retry-after"] = "12"  # requests' headers ignore case
    assert retry_after(response) == 12.0


def test_timeout_setting_default_and_range() -> None:
    assert timeout_setting(None, default=10.0) == 10.0
    assert timeout_setting("", default=10.0) == 10.0
    assert timeout_setting("2.5", default=10.0) == 2.5
    with pytest.raises(ConfigurationError, match="between 1 and 300 seconds"):
        timeout_setting("301", default=30.0, high=300)
    with pytest.raises(ConfigurationError, match="a number of seconds"):
        timeout_setting("ten", default=10.0)
    with pytest.raises(ConfigurationError, match="between"):
        timeout_setting("nan", default=10.0)


def test_transport_failure_names_the_service_the_call_and_only_the_exception_class() -> None:
    secret_url = "https://crm.example/api?api_key=s3cret"
    timeout = requests.ReadTimeout(f"read timed out for {secret_url}")
    refused = requests.ConnectionError(f"refused: {secret_url}")

    assert (
        transport_failure_text("Dynamics 365", "upsert of payment P1", timeout, timeout=30)
        == "Dynamics 365 did not answer upsert of payment P1 within 30 s"
    )
    assert (
        transport_failure_text("the webhook", "paid event E1", timeout)
        == "the webhook did not answer paid event E1 in time"
    )
    text = transport_failure_text("HubSpot", "POST /crm/v3/objects", refused)
    assert text == "cannot reach HubSpot for POST /crm/v3/objects (ConnectionError)"
    assert "s3cret" not in text


def test_status_failure_text_carries_status_and_the_services_words() -> None:
    assert (
        status_failure_text("Salesforce", "the upsert", 400, "REQUIRED_FIELD_MISSING")
        == "Salesforce answered HTTP 400 to the upsert: REQUIRED_FIELD_MISSING"
    )
    assert status_failure_text("Salesforce", "the upsert", 502) == (
        "Salesforce answered HTTP 502 to the upsert"
    )


def test_answer_excerpt_redacts_card_numbers_and_cuts() -> None:
    assert answer_excerpt(f"  bad value {CARD} in field  ") == "bad value [REDACTED PAN] in field"
    assert answer_excerpt(None) == ""
    assert answer_excerpt("x" * 1000, 20) == "x" * 20


def test_answer_excerpt_never_leaves_half_a_card_number_at_the_cut() -> None:
    body = "e" * 10 + CARD + " trailing"
    excerpt = answer_excerpt(body, 18)
    assert "41111111" not in excerpt and excerpt.startswith("e" * 10)
