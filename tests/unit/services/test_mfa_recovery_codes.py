"""Recovery codes are shown once; one that looked like a card number would be blanked by
crm-pay's last-line redaction of its own answers and the user would lose it."""

from __future__ import annotations

import pyotp
import pytest

from crm_pay.services import mfa
from crm_pay.services.access import create_user
from crm_pay.services.context import Context
from vault.pan import find_pans

# 20 hex digits, the first 16 Braintree's published test Visa (Luhn-valid).
CARD_LIKE = "4111111111111111abcd"


def test_a_code_that_looks_like_a_card_number_is_never_issued(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = create_user(ctx, email="sup@example.com", role="supervisor", password="pw-1234567890")
    seed = mfa.start_enrolment(ctx, user)
    real = mfa.secrets.token_hex
    drawn = iter([CARD_LIKE])
    monkeypatch.setattr(mfa.secrets, "token_hex", lambda n: next(drawn, None) or real(n))

    codes = mfa.confirm_enrolment(ctx, user, pyotp.TOTP(seed).at(ctx.now()))

    assert find_pans("41111-11111-11111-1abcd")  # what it would have shown
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "41111-11111-11111-1abcd" not in codes
    assert not any(find_pans(c) for c in codes)
