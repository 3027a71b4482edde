"""The assets origin: client tokens, the tokenize endpoint and the field iframes."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
import requests

from connectors.psp.braintree_sandbox import SandboxConfig, SandboxServer

pytestmark = pytest.mark.sandbox

VISA_TEST_CARD = "4111111111111111"  # Braintree's published Visa test number


def _luhn_completed(partial: str) -> str:
    """``partial`` plus the check digit that makes it Luhn-valid."""
    total = 0
    for index, char in enumerate(reversed(partial)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return partial + str((10 - total % 10) % 10)


def _fingerprint(gateway) -> str:
    token = json.loads(base64.b64decode(gateway.client_token.generate()))
    return token["authorizationFingerprint"]


def _tokenize(sandbox: SandboxServer, fingerprint: str, number: str, **overrides: str):
    body = {
        "authorizationFingerprint": fingerprint,
        "number": number,
        "expirationDate": "12/39",
        "cvv": "123",
        "postalCode": "94107",
        **overrides,
    }
    return requests.post(sandbox.assets_url + "/tokenize", json=body, timeout=5)


def test_client_token_points_at_the_assets_origin(gateway, sandbox):
    token = json.loads(base64.b64decode(gateway.client_token.generate()))

    assert token["assetsUrl"] == sandbox.assets_url
    assert token["clientApiUrl"] == sandbox.assets_url
    assert sandbox.assets_url != sandbox.gateway_url


def test_tokenized_test_card_nonce_works_once(gateway, sandbox):
    with _tokenize(sandbox, _fingerprint(gateway), VISA_TEST_CARD) as response:
        assert response.status_code == 201
        body = response.json()
    assert body["details"] == {
        "cardType": "Visa",
        "lastFour": "1111",
        "bin": "411111",
        "expirationMonth": "12",
        "expirationYear": "2039",
    }

    first = gateway.transaction.sale({"amount": "15.00", "payment_method_nonce": body["nonce"]})
    second = gateway.transaction.sale({"amount": "15.00", "payment_method_nonce": body["nonce"]})

    assert first.is_success
    assert first.transaction.credit_card_details.masked_number == "411111******1111"
    assert not second.is_success
    # ErrorCodes.Transaction.PaymentMethodNonceConsumed (braintree/error_codes.py)
    assert [e.code for e in second.errors.deep_errors] == ["91564"]


def test_tokenize_requires_a_valid_fingerprint(sandbox):
    with _tokenize(sandbox, "forged|merchant_id=crm_pay_demo", VISA_TEST_CARD) as response:
        assert response.status_code == 401


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"expirationDate": "01/20"}, "invalid_expiration_date"),
        ({"cvv": "12"}, "invalid_cvv"),
        ({"postalCode": " "}, "invalid_postal_code"),
    ],
)
def test_tokenize_validates_the_other_fields(gateway, sandbox, overrides, code):
    with _tokenize(sandbox, _fingerprint(gateway), VISA_TEST_CARD, **overrides) as response:
        assert response.status_code == 422
        assert response.json()["error"]["code"] == code


def test_non_test_number_is_refused_and_never_kept(gateway, sandbox_log, tmp_path: Path):
    # Built at run time so no such number is written in the source.
    not_a_test_card = _luhn_completed("41111111" + "2345678")
    config = SandboxConfig(state_path=tmp_path / "sandbox.json")
    with SandboxServer(config) as isolated:
        isolated_gateway = isolated.braintree_gateway()
        try:
            fingerprint = _fingerprint(isolated_gateway)
        finally:
            isolated_gateway.config.close()
        with _tokenize(isolated, fingerprint, not_a_test_card) as response:
            assert response.status_code == 422
            assert response.json()["error"]["message"] == (
                "Only Braintree test card numbers are accepted by the development sandbox"
            )
        with _tokenize(isolated, fingerprint, VISA_TEST_CARD) as accepted:
            assert accepted.status_code == 201
        state_file = (tmp_path / "sandbox.json").read_text()
        assert isolated.transactions == []

    assert not_a_test_card not in state_file
    assert not_a_test_card[-4:] + '"' not in state_file
    assert VISA_TEST_CARD not in state_file
    assert not_a_test_card not in sandbox_log.text
    assert VISA_TEST_CARD not in sandbox_log.text


def test_field_iframes_are_embeddable_and_labelled(sandbox):
    with requests.get(sandbox.assets_url + "/field/number.html", timeout=5) as response:
        assert response.status_code == 200
        assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
        assert "X-Frame-Options" not in response.headers
        assert response.headers["X-Sandbox"] == "crm-pay development sandbox"
        assert "development sandbox" in response.text
    with requests.get(sandbox.assets_url + "/hosted-fields.js", timeout=5) as script:
        assert script.headers["Access-Control-Allow-Origin"] == "*"
        assert "sandboxHostedFields" in script.text


def test_request_log_has_paths_only(gateway, sandbox, sandbox_log):
    gateway.transaction.sale({"amount": "1.00", "payment_method_nonce": "fake-valid-nonce"})

    lines = [r.getMessage() for r in sandbox_log.records if r.name == "crm_pay.sandbox"]
    assert any("POST /merchants/crm_pay_demo/transactions 201" in line for line in lines)
    assert not any("fake-valid-nonce" in line for line in lines)
    assert logging.getLogger("crm_pay.sandbox").name == "crm_pay.sandbox"
