"""Random tokens, their stored hashes, and signed expiring tokens."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from vault import TokenExpired, TokenInvalid, VaultError, hash_token, new_token, sign, tokens_equal
from vault import verify as verify_token

KEY = b"k" * 32
PEPPER = b"p" * 32
NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def test_new_tokens_are_url_safe_random_and_long_enough() -> None:
    tokens = {new_token() for _ in range(100)}

    assert len(tokens) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens)
    assert len(new_token(16)) == 22


def test_new_token_refuses_fewer_than_128_bits() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        new_token(15)


def test_hash_token_is_stable_and_depends_on_the_pepper() -> None:
    token = new_token()

    assert hash_token(token, pepper=PEPPER) == hash_token(token, pepper=PEPPER)
    assert re.fullmatch(r"[0-9a-f]{64}", hash_token(token, pepper=PEPPER))
    assert hash_token(token, pepper=PEPPER) != hash_token(token, pepper=b"q" * 32)
    assert token not in hash_token(token, pepper=PEPPER)


def test_short_pepper_is_refused() -> None:
    with pytest.raises(VaultError, match="at least 16"):
        hash_token("abc", pepper=b"short")


def test_tokens_equal() -> None:
    assert tokens_equal("abc", "abc")
    assert not tokens_equal("abc", "abd")
    assert not tokens_equal("abc", "ab")
    assert not tokens_equal("é", "e")


def test_signed_token_round_trip() -> None:
    token = sign({"receipt": "R-2026-000123", "n": 3}, key=KEY, expires_in=600, now=NOW)

    payload = verify_token(token, key=KEY, now=NOW + timedelta(seconds=599))

    assert payload == {"receipt": "R-2026-000123", "n": 3}


def test_signed_token_expires() -> None:
    token = sign({"receipt": "R-1"}, key=KEY, expires_in=600, now=NOW)

    with pytest.raises(TokenExpired, match="2026-01-15T10:10:00") as excinfo:
        verify_token(token, key=KEY, now=NOW + timedelta(seconds=600))

    assert excinfo.value.code == "token_expired"
    assert isinstance(excinfo.value, VaultError)


def test_signed_token_with_altered_payload_is_refused() -> None:
    token = sign({"receipt": "R-1"}, key=KEY, expires_in=600, now=NOW)
    forged_body = sign({"receipt": "R-2"}, key=b"x" * 32, expires_in=600, now=NOW).split(".")[0]

    with pytest.raises(TokenInvalid) as excinfo:
        verify_token(f"{forged_body}.{token.split('.')[1]}", key=KEY, now=NOW)

    assert excinfo.value.code == "token_invalid"


def test_signed_token_with_another_key_is_refused() -> None:
    token = sign({"receipt": "R-1"}, key=KEY, expires_in=600, now=NOW)

    with pytest.raises(TokenInvalid, match="signature"):
        verify_token(token, key=b"o" * 32, now=NOW)


def test_expired_forgery_reports_invalid_not_expired() -> None:
    token = sign({"receipt": "R-1"}, key=b"o" * 32, expires_in=1, now=NOW)

    with pytest.raises(TokenInvalid):
        verify_token(token, key=KEY, now=NOW + timedelta(days=1))


@pytest.mark.parametrize("token", ["", "abc", "abc.def", "a.b.c", "é.é", "....."])
def test_malformed_signed_token_is_refused(token: str) -> None:
    with pytest.raises(TokenInvalid):
        verify_token(token, key=KEY, now=NOW)


def test_sign_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="positive"):
        sign({}, key=KEY, expires_in=0, now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        sign({}, key=KEY, expires_in=60, now=datetime(2026, 1, 15))
    with pytest.raises(VaultError, match="at least 16"):
        sign({}, key=b"short", expires_in=60, now=NOW)
