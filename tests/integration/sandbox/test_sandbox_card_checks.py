"""The sandbox's AVS/CVV answers, risk data and card fingerprint, read through the real
SDK and crm-pay's Braintree adapter (``PspTransaction.checks``). The test values are
Braintree's: CVV 200 → N, 201 → U, 301 → S, postal code 20000 → N, 20001 → U, nothing
given → I; risk data when the sale carries device data; ``unique_number_identifier``
32 word characters, the same for the same card."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import pytest
import requests

from crm_pay.domain.money import Money
from crm_pay.ports import PspTransaction, SaleRequest
from crm_pay.services.context import Context


def _nonce(ctx: Context, sandbox: Any, number: str, **fields: str) -> str:
    token = json.loads(base64.b64decode(ctx.psp.client_token()))
    body = {"number": number, "expirationDate": "12/39", "cvv": "123", **fields}
    with requests.post(
        sandbox.assets_url + "/tokenize",
        json={"authorizationFingerprint": token["authorizationFingerprint"], **body},
        timeout=5,
    ) as response:
        assert response.status_code == 201, response.text
        return str(response.json()["nonce"])


def _sale(ctx: Context, nonce: str, device_data: str | None = None) -> PspTransaction:
    key = uuid.uuid4().hex
    outcome = ctx.psp.sale(
        SaleRequest(
            amount=Money.parse("10.00", "USD"),
            order_id=f"checks-{key}",
            request_key=key,
            payment_method_nonce=nonce,
            device_data=device_data,
            submit_for_settlement=False,
        )
    )
    assert outcome.approved and outcome.transaction is not None
    return outcome.transaction


@pytest.mark.parametrize(
    ("cvv", "postal_code", "cvv_code", "postal_code_code"),
    [("200", "20000", "N", "N"), ("201", "20001", "U", "U"), ("301", "94107", "S", "M")],
)
def test_test_cvvs_and_postal_codes_give_braintrees_answers(
    ctx: Context, sandbox: Any, cvv: str, postal_code: str, cvv_code: str, postal_code_code: str
) -> None:
    txn = _sale(ctx, _nonce(ctx, sandbox, "4111111111111111", cvv=cvv, postalCode=postal_code))
    assert txn.status.value == "authorized"
    assert txn.checks is not None
    assert (txn.checks.cvv, txn.checks.avs_postal_code) == (cvv_code, postal_code_code)
    assert txn.checks.avs_street_address == "I"
    assert txn.checks.risk_decision is None  # no device data: no risk data


def test_a_test_nonce_carries_no_cvv_or_postal_code_and_device_data_brings_risk_data(
    ctx: Context,
) -> None:
    txn = _sale(ctx, "fake-valid-nonce", device_data='{"correlation_id": "abc123"}')
    assert txn.checks is not None
    assert (txn.checks.cvv, txn.checks.avs_postal_code) == ("I", "I")
    assert txn.checks.risk_decision == "Approve"


def test_the_same_card_has_the_same_fingerprint_and_another_card_another(
    ctx: Context, sandbox: Any
) -> None:
    first = _sale(ctx, _nonce(ctx, sandbox, "4111111111111111"))
    again = _sale(ctx, _nonce(ctx, sandbox, "4111111111111111", cvv="999"))
    other = _sale(ctx, _nonce(ctx, sandbox, "5555555555554444"))
    prints = [t.checks.card_fingerprint if t.checks else None for t in (first, again, other)]
    assert prints[0] is not None and re.fullmatch(r"\w{32}", prints[0])
    assert prints[0] == prints[1] != prints[2]
    assert "4111111111111111" not in json.dumps(prints)
