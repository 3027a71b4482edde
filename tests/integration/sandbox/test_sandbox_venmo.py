"""The sandbox's Venmo for braintree-web's ``venmo`` component (desktop QR code flow):
the configuration's ``payWithVenmo`` block, Braintree's GraphQL payment contexts as
braintree-web asks for them (``venmo/external/queries.js``), the simulated Venmo app
that scans and approves, and the QR code frame. Each refuses a forged authorization and
what it cannot read, changing nothing; the nonce an approved context gives is charged
as Braintree's Venmo test account."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import braintree
import pytest
import requests

from connectors.psp.braintree_sandbox import SandboxServer

pytestmark = pytest.mark.sandbox

API = "/merchants/crm_pay_demo/client_api/v1"
QUERIES = "node_modules/braintree-web/venmo/external/queries.js"


def _queries() -> dict[str, str]:
    """braintree-web's own GraphQL documents (the strings its Venmo component sends)."""
    text = (Path(__file__).resolve().parents[3] / QUERIES).read_text(encoding="utf-8")
    found = {}
    names = (
        "CREATE_PAYMENT_CONTEXT_QUERY",
        "UPDATE_PAYMENT_CONTEXT_QUERY",
        "VENMO_PAYMENT_CONTEXT_STATUS_QUERY",
        "LEGACY_CREATE_PAYMENT_CONTEXT_QUERY",
    )
    for name in names:
        start = text.index(f'exports.{name} =\n  "')
        literal = text[text.index('"', start) : text.index('";', start) + 1]
        found[name] = json.loads(literal)
    return found


def _fingerprint(gateway: braintree.BraintreeGateway) -> str:
    token = json.loads(base64.b64decode(gateway.client_token.generate()))
    return str(token["authorizationFingerprint"])


def _graphql(
    sandbox: SandboxServer, fingerprint: str, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    # what client/client.js sends for api: "graphQLApi"
    answer = requests.post(
        sandbox.assets_url + "/graphql",
        json={"clientSdkMetadata": {"source": "client"}, "query": query, "variables": variables},
        headers={"Authorization": f"Bearer {fingerprint}", "Braintree-Version": "2018-05-10"},
        timeout=5,
    )
    assert answer.status_code == 200  # Braintree's GraphQL: errors are in the body
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    body: dict[str, Any] = answer.json()
    return body


def _create(sandbox: SandboxServer, fingerprint: str, **given: Any) -> dict[str, Any]:
    fields = {"paymentMethodUsage": "SINGLE_USE", "intent": "PAY_FROM_APP",
              "customerClient": "DESKTOP", **given}  # fmt: skip
    return _graphql(
        sandbox, fingerprint, _queries()["CREATE_PAYMENT_CONTEXT_QUERY"], {"input": fields}
    )


def _status(sandbox: SandboxServer, fingerprint: str, context_id: str) -> Any:
    query = _queries()["VENMO_PAYMENT_CONTEXT_STATUS_QUERY"]
    return _graphql(sandbox, fingerprint, query, {"id": context_id})["data"]["node"]


def _app(sandbox: SandboxServer, context_id: str, status: str) -> requests.Response:
    return requests.post(
        f"{sandbox.assets_url}/venmo-sandbox/payment-contexts/{context_id}",
        json={"status": status},
        timeout=5,
    )


def test_the_configuration_enables_venmo_and_names_braintree_s_graphql_endpoint(
    gateway: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    answer = requests.get(
        sandbox.assets_url + API + "/configuration",
        params={"authorizationFingerprint": _fingerprint(gateway), "configVersion": "3"},
        timeout=5,
    )
    config = answer.json()
    venmo = config["payWithVenmo"]
    assert venmo["merchantId"] and venmo["accessToken"] and venmo["environment"] == "sandbox"
    # braintree-web's GRAPHQL_URLS.sandbox; no client API call is moved to GraphQL
    assert config["graphQL"] == {
        "url": "https://payments.sandbox.braintree-api.com/graphql",
        "features": [],
    }


def test_an_approved_payment_context_gives_braintree_s_venmo_nonce_which_charges(
    gateway: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    fingerprint = _fingerprint(gateway)
    config = requests.get(
        sandbox.assets_url + API + "/configuration",
        params={"authorizationFingerprint": fingerprint, "configVersion": "3"},
        timeout=5,
    ).json()
    profile = config["payWithVenmo"]["merchantId"]  # what venmo.js sends as the profile
    created = _create(sandbox, fingerprint, merchantProfileId=profile)
    created = created["data"]["createVenmoPaymentContext"]
    context = created["venmoPaymentContext"]
    assert context["merchantId"] and context["createdAt"] < context["expiresAt"]
    assert _status(sandbox, fingerprint, context["id"]) == {
        "status": "CREATED", "paymentMethodId": None, "userName": None, "payerInfo": None,
    }  # fmt: skip

    # the customer's (simulated) Venmo app scans the code, then approves
    assert _app(sandbox, context["id"], "SCANNED").json() == {"status": "SCANNED"}
    assert _status(sandbox, fingerprint, context["id"])["status"] == "SCANNED"
    assert _app(sandbox, context["id"], "APPROVED").status_code == 200
    node = _status(sandbox, fingerprint, context["id"])
    assert node["status"] == "APPROVED" and node["userName"] == "venmojoe"
    assert node["paymentMethodId"] == "fake-venmo-account-nonce"
    # an approved context stays approved: the app cannot cancel it afterwards
    assert _app(sandbox, context["id"], "CANCELED").status_code == 409

    result = gateway.transaction.sale(
        {
            "amount": "12.00",
            "payment_method_nonce": node["paymentMethodId"],
            "options": {"submit_for_settlement": True},
        }
    )
    assert result.is_success
    assert result.transaction.venmo_account_details.username == "venmojoe"


def test_a_context_the_page_cancelled_cannot_be_approved(
    gateway: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    fingerprint = _fingerprint(gateway)
    context = _create(sandbox, fingerprint)["data"]["createVenmoPaymentContext"]
    context_id = context["venmoPaymentContext"]["id"]
    update = _queries()["UPDATE_PAYMENT_CONTEXT_QUERY"]
    cancelled = _graphql(
        sandbox, fingerprint, update, {"input": {"id": context_id, "status": "CANCELED"}}
    )
    assert "errors" not in cancelled
    assert _app(sandbox, context_id, "SCANNED").status_code == 409
    assert _status(sandbox, fingerprint, context_id)["status"] == "CANCELED"
    # nor is a cancelled context brought back by the page
    again = _graphql(
        sandbox, fingerprint, update, {"input": {"id": context_id, "status": "APPROVED"}}
    )
    assert again["errors"][0]["extensions"]["errorClass"] == "VALIDATION"


def test_the_app_cannot_approve_a_code_it_has_not_scanned_nor_an_unknown_one(
    gateway: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    fingerprint = _fingerprint(gateway)
    context = _create(sandbox, fingerprint)["data"]["createVenmoPaymentContext"]
    context_id = context["venmoPaymentContext"]["id"]
    refused = _app(sandbox, context_id, "APPROVED")
    assert refused.status_code == 409 and "CREATED" in refused.json()["error"]["message"]
    assert _status(sandbox, fingerprint, context_id)["status"] == "CREATED"
    assert _app(sandbox, "forged-context", "SCANNED").status_code == 404


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ({"paymentMethodUsage": "FOREVER"}, "paymentMethodUsage"),
        ({"customerClient": "FAX"}, "customerClient"),
        ({"intent": None}, "intent"),
        ({"merchantProfileId": "someone-else"}, "merchantProfileId"),
    ],
    ids=["usage", "client", "intent", "profile"],
)
def test_a_payment_context_braintree_would_refuse_is_refused_and_none_is_created(
    gateway: braintree.BraintreeGateway, sandbox: SandboxServer, given: dict[str, Any], words: str
) -> None:
    body = _create(sandbox, _fingerprint(gateway), **given)
    (error,) = body["errors"]
    assert error["extensions"]["errorClass"] == "VALIDATION" and words in error["message"]
    assert body["data"] is None


def test_graphql_refuses_a_forged_authorization_and_what_it_does_not_answer(
    gateway: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    forged = _create(sandbox, "forged|merchant_id=crm_pay_demo&created_at=1")
    assert forged["errors"][0]["extensions"]["errorClass"] == "AUTHENTICATION"
    assert forged["data"] is None
    legacy = _graphql(
        sandbox,
        _fingerprint(gateway),
        _queries()["LEGACY_CREATE_PAYMENT_CONTEXT_QUERY"],
        {"input": {"environment": "SANDBOX", "intent": "PAY_FROM_APP"}},
    )
    assert legacy["data"] is None
    assert "createVenmoPaymentContext" in legacy["errors"][0]["message"]
    # the browser's preflight (Authorization and Braintree-Version are not simple headers)
    preflight = requests.options(
        sandbox.assets_url + "/graphql",
        headers={"Access-Control-Request-Headers": "authorization,braintree-version,content-type"},
        timeout=5,
    )
    assert preflight.status_code == 204
    assert "braintree-version" in preflight.headers["Access-Control-Allow-Headers"]


def test_the_qr_code_frame_is_the_sandbox_s_labelled_stand_in(sandbox: SandboxServer) -> None:
    page = requests.get(
        sandbox.assets_url + "/web/3.144.0/html/venmo-desktop-frame.html", timeout=5
    )
    assert page.status_code == 200
    assert "Development sandbox — simulated Venmo app" in page.text
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors" in policy
    script = requests.get(sandbox.assets_url + "/web/3.144.0/js/venmo-desktop-frame.js", timeout=5)
    assert script.status_code == 200 and "VENMO_DESKTOP_IFRAME_READY" in script.text
