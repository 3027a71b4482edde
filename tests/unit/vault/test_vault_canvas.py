"""Salesforce Canvas signed requests: verification and reading the record id."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from vault.canvas import (
    CanvasRequestInvalid,
    canvas_record_id,
    sign_canvas_request,
    verify_canvas_request,
)
from vault.errors import VaultError

SECRET = "consumer-secret-for-tests"
NOW = 1_767_000_000.0


def envelope(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "algorithm": "HMACSHA256",
        "issuedAt": int(NOW),
        "userId": "005000000000001AAA",
        "client": {"oauthToken": "00D!session"},
        "context": {"environment": {"record": {"Id": "001000000000001AAA"}}},
    }
    data.update(overrides)
    return data


def test_a_request_signed_like_salesforce_does_verifies() -> None:
    # Built by hand from the documented recipe, not with sign_canvas_request.
    encoded = base64.b64encode(json.dumps(envelope()).encode()).decode()
    digest = hmac.new(SECRET.encode(), encoded.encode(), hashlib.sha256).digest()
    signed = f"{base64.b64encode(digest).decode()}.{encoded}"
    assert verify_canvas_request(signed, SECRET, now=NOW) == envelope()
    assert sign_canvas_request(envelope(), SECRET) == signed


def test_url_safe_and_unpadded_base64_are_accepted() -> None:
    signature, encoded = sign_canvas_request(envelope(), SECRET).split(".")
    urlsafe = signature.replace("+", "-").replace("/", "_").rstrip("=")
    assert verify_canvas_request(f"{urlsafe}.{encoded}", SECRET, now=NOW)["userId"]


@pytest.mark.parametrize(
    ("signed", "reason"),
    [
        ("", "missing"),
        ("no-dot-here", "malformed"),
        (".abc", "malformed"),
        ("abc.", "malformed"),
        ("!!!.abc", "not base64"),
        ("x" * 70_000, "too long"),
    ],
)
def test_malformed_requests_are_refused(signed: str, reason: str) -> None:
    with pytest.raises(CanvasRequestInvalid, match=reason):
        verify_canvas_request(signed, SECRET, now=NOW)


def test_a_changed_context_or_another_secret_is_refused() -> None:
    signature, _ = sign_canvas_request(envelope(), SECRET).split(".")
    _, other = sign_canvas_request(envelope(userId="005EVIL"), SECRET).split(".")
    with pytest.raises(CanvasRequestInvalid, match="does not match"):
        verify_canvas_request(f"{signature}.{other}", SECRET, now=NOW)
    with pytest.raises(CanvasRequestInvalid, match="does not match"):
        verify_canvas_request(sign_canvas_request(envelope(), "other"), SECRET, now=NOW)


def test_no_secret_fails_closed_with_a_configuration_code() -> None:
    with pytest.raises(CanvasRequestInvalid) as exc:
        verify_canvas_request(sign_canvas_request(envelope(), ""), "", now=NOW)
    assert exc.value.code == "canvas_config"
    assert isinstance(exc.value, VaultError)


@pytest.mark.parametrize("algorithm", ["HMACSHA1", "hmacsha256", None, 256])
def test_only_hmacsha256_is_accepted(algorithm: object) -> None:
    signed = sign_canvas_request(envelope(algorithm=algorithm), SECRET)
    with pytest.raises(CanvasRequestInvalid, match="algorithm must be HMACSHA256"):
        verify_canvas_request(signed, SECRET, now=NOW)


def test_signed_json_that_is_not_an_object_is_refused() -> None:
    encoded = base64.b64encode(b"[1, 2]").decode()
    digest = hmac.new(SECRET.encode(), encoded.encode(), hashlib.sha256).digest()
    with pytest.raises(CanvasRequestInvalid, match="not a JSON object"):
        verify_canvas_request(f"{base64.b64encode(digest).decode()}.{encoded}", SECRET, now=NOW)


@pytest.mark.parametrize(
    ("issued_at", "ok"),
    [
        (int(NOW), True),
        (int(NOW) - 899, True),
        (int(NOW) - 901, False),
        (int(NOW) + 901, False),
        (int(NOW * 1000) - 60_000, True),  # milliseconds
        (int(NOW * 1000) - 3_600_000, False),
        (None, True),  # absent from Salesforce's own examples: nothing to check
    ],
)
def test_issued_at_must_be_fresh(issued_at: int | None, ok: bool) -> None:
    signed = sign_canvas_request(envelope(issuedAt=issued_at), SECRET)
    if ok:
        assert verify_canvas_request(signed, SECRET, now=NOW)
    else:
        with pytest.raises(CanvasRequestInvalid, match="issued more than 900 seconds"):
            verify_canvas_request(signed, SECRET, now=NOW)


def test_freshness_check_can_be_turned_off_and_bad_timestamps_are_refused() -> None:
    old = sign_canvas_request(envelope(issuedAt=1), SECRET)
    assert verify_canvas_request(old, SECRET, now=NOW, max_age=0)
    for bad in ("yesterday", True):
        with pytest.raises(CanvasRequestInvalid, match="not a timestamp"):
            verify_canvas_request(
                sign_canvas_request(envelope(issuedAt=bad), SECRET), SECRET, now=NOW
            )


def test_errors_never_repeat_what_the_request_carried() -> None:
    signed = sign_canvas_request(envelope(algorithm="none"), SECRET)
    with pytest.raises(CanvasRequestInvalid) as exc:
        verify_canvas_request(signed, SECRET, now=NOW)
    assert "00D!session" not in str(exc.value) and "none" not in str(exc.value)


def test_record_id_prefers_the_custom_parameter_then_the_page_record() -> None:
    both = envelope(
        context={
            "environment": {
                "parameters": {"recordId": "CUST-0001"},
                "record": {"Id": "001000000000001AAA"},
            }
        }
    )
    assert canvas_record_id(both) == "CUST-0001"
    assert canvas_record_id(envelope()) == "001000000000001AAA"
    custom = envelope(context={"environment": {"parameters": {"customerId": "C42"}}})
    assert canvas_record_id(custom, parameter="customerId") == "C42"


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"record": {}},
        {"record": {"Id": "<script>"}},
        {"parameters": {"recordId": 12}},
        {"parameters": "recordId"},
        {"record": {"Id": "x" * 101}},
    ],
)
def test_no_usable_record_id_gives_none(environment: dict[str, Any]) -> None:
    assert canvas_record_id(envelope(context={"environment": environment})) is None
    assert canvas_record_id({"context": None}) is None
