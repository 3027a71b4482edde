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


def test_client_token_names_braintree_s_hosts_and_its_configuration_answers(gateway, sandbox):
    # braintree-web talks only to Braintree's https hosts (lib/is-verified-domain.js), so
    # the token names them, as one from Braintree's sandbox does; a browser running it
    # sends them to the sandbox's assets origin (browser_routes.py)
    token = json.loads(base64.b64decode(gateway.client_token.generate()))
    api = "https://api.sandbox.braintreegateway.com:443/merchants/crm_pay_demo/client_api"
    assert token["clientApiUrl"] == api
    assert token["configUrl"] == f"{api}/v1/configuration"
    assert token["assetsUrl"] == "https://assets.braintreegateway.com"

    local = sandbox.assets_url + "/merchants/crm_pay_demo/client_api/v1/configuration"
    params = {"authorizationFingerprint": token["authorizationFingerprint"], "configVersion": "3"}
    with requests.get(local, params=params, timeout=5) as answer:
        assert answer.status_code == 200
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        config = answer.json()
    assert config["assetsUrl"] == "https://assets.braintreegateway.com"
    assert config["clientApiUrl"] == api
    assert "Visa" in config["creditCards"]["supportedCardTypes"]
    with requests.get(
        local, params={**params, "authorizationFingerprint": "forged"}, timeout=5
    ) as bad:
        assert bad.status_code == 401


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
    # braintree-web 3.144.0 loads {assetsUrl}/web/<version>/html/hosted-fields-frame.min.html
    frame = sandbox.assets_url + "/web/3.144.0/html/hosted-fields-frame.min.html"
    with requests.get(frame, timeout=5) as response:
        assert response.status_code == 200
        assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
        assert "X-Frame-Options" not in response.headers
        assert response.headers["X-Sandbox"] == "crm-pay development sandbox"
        assert "development sandbox" in response.text
        assert 'src="/web/3.144.0/js/hosted-field.js"' in response.text
    with requests.get(sandbox.assets_url + "/hosted-fields.js", timeout=5) as script:
        assert script.headers["Access-Control-Allow-Origin"] == "*"
        assert "developmentSandbox: true" in script.text


def test_request_log_has_paths_only(gateway, sandbox, sandbox_log):
    gateway.transaction.sale({"amount": "1.00", "payment_method_nonce": "fake-valid-nonce"})

    lines = [r.getMessage() for r in sandbox_log.records if r.name == "crm_pay.sandbox"]
    assert any("POST /merchants/crm_pay_demo/transactions 201" in line for line in lines)
    assert not any("fake-valid-nonce" in line for line in lines)
    assert logging.getLogger("crm_pay.sandbox").name == "crm_pay.sandbox"


def _client_api_tokenize(sandbox: SandboxServer, fingerprint: str, number: str, **card: str):
    # what the hosted-field frame posts (braintree-web's client API request)
    url = sandbox.assets_url + "/merchants/crm_pay_demo/client_api/v1/payment_methods/credit_cards"
    body = {
        "creditCard": {"number": number, "expirationDate": "12/39", "cvv": "123", **card},
        "authorizationFingerprint": fingerprint,
    }
    return requests.post(url, json=body, timeout=5)


def test_the_client_api_tokenizes_a_test_card_as_braintree_answers(gateway, sandbox, sandbox_log):
    with _client_api_tokenize(sandbox, _fingerprint(gateway), VISA_TEST_CARD) as answer:
        assert answer.status_code == 201
        (card,) = answer.json()["creditCards"]
    assert card["type"] == "CreditCard"
    assert card["details"]["lastFour"] == "1111" and card["details"]["cardType"] == "Visa"
    assert card["description"] == "ending in 11"
    # the nonce charges through the real SDK, once
    sale = gateway.transaction.sale({"amount": "5.00", "payment_method_nonce": card["nonce"]})
    assert sale.is_success
    again = gateway.transaction.sale({"amount": "5.00", "payment_method_nonce": card["nonce"]})
    assert not again.is_success
    assert VISA_TEST_CARD not in sandbox_log.text


@pytest.mark.parametrize(
    ("number", "card", "field", "code"),
    [
        ("not-a-test-card", {}, "number", "81715"),
        (VISA_TEST_CARD, {"expirationDate": "13/39"}, "expirationDate", "81712"),
        (VISA_TEST_CARD, {"cvv": "12"}, "cvv", "81707"),
    ],
)
def test_the_client_api_refuses_card_data_with_braintree_s_field_errors(
    gateway, sandbox, number, card, field, code
):
    if number == "not-a-test-card":
        number = _luhn_completed("411111111111112")  # Luhn-valid, not a Braintree test card
    with _client_api_tokenize(sandbox, _fingerprint(gateway), number, **card) as answer:
        assert answer.status_code == 422
        body = answer.json()
    assert body["error"]["message"]
    (credit_card,) = body["fieldErrors"]
    assert credit_card["field"] == "creditCard"
    assert [(f["field"], f["code"]) for f in credit_card["fieldErrors"]] == [(field, code)]
    assert number not in answer.text


def test_the_client_api_needs_the_token_s_fingerprint(sandbox):
    with _client_api_tokenize(sandbox, "forged|merchant_id=crm_pay_demo", VISA_TEST_CARD) as answer:
        assert answer.status_code == 401
