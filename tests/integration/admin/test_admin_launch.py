"""Opening the console from a CRM: Salesforce Canvas signed requests, HubSpot v3-signed CRM
card requests and signed launch links land the agent on the right customer."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connectors.crm.hubspot import hubspot_signature_v3
from crm_pay.cli_launch import launch_url
from crm_pay.services.context import Context
from crm_pay.services.launch import LaunchConfig, launch_link
from crm_pay.services.secrets import put_secret
from paytest import csrf_of, login
from vault.canvas import sign_canvas_request

CANVAS_SECRET = "test-canvas-consumer-secret"
HUBSPOT_SECRET = "test-hubspot-client-secret"
CUSTOMER = "/pay/agent/customers/CUST-0001"


@pytest.fixture
def app_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """For tests that ask for ``crm_app``: the CRMs' launch secrets and the frame
    ancestor the console is embedded in (the others run without them)."""
    if "crm_app" not in request.fixturenames:
        return {}
    return {
        "CRM_PAY_SALESFORCE_CANVAS_SECRET": CANVAS_SECRET,
        "CRM_PAY_HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
        "CRM_PAY_FRAME_ANCESTORS": "https://acme.lightning.force.com",
    }


@pytest.fixture
def crm_app(app: Flask) -> Flask:
    """``app``, built with the CRMs' secrets (:func:`app_settings`)."""
    return app


def _envelope(ctx: Context, **overrides: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "algorithm": "HMACSHA256",
        "issuedAt": int(ctx.now().timestamp()),
        "userId": "005000000000001AAA",
        "client": {"oauthToken": "00D!live-salesforce-session-token", "instanceUrl": "https://x"},
        "context": {
            "user": {"email": "agent@example.com"},
            "environment": {
                "displayLocation": "PageLayout",
                "parameters": {"recordId": "CUST-0001"},
                "record": {"attributes": {"type": "Account"}, "Id": "001000000000001AAA"},
            },
        },
    }
    envelope.update(overrides)
    return envelope


def _canvas(client: FlaskClient, signed_request: str) -> Any:
    # Salesforce posts the form itself: no session, no CSRF token.
    return client.post("/pay/agent/launch/salesforce", data={"signed_request": signed_request})


def test_canvas_launch_lands_the_signed_in_agent_on_the_customer(
    crm_app: Flask, agent: FlaskClient, ctx: Context
) -> None:
    resp = _canvas(agent, sign_canvas_request(_envelope(ctx), CANVAS_SECRET))
    assert resp.status_code == 303 and resp.location.endswith(CUSTOMER)
    assert (
        "frame-ancestors https://acme.lightning.force.com"
        in resp.headers["Content-Security-Policy"]
    )
    page = agent.get(resp.location)
    assert page.status_code == 200 and 'data-crm-ref="CUST-0001"' in page.text
    assert (
        "frame-ancestors https://acme.lightning.force.com"
        in page.headers["Content-Security-Policy"]
    )


def test_canvas_launch_signs_in_first_then_lands(
    crm_app: Flask, ctx: Context, users: dict[str, int]
) -> None:
    client = crm_app.test_client()
    resp = _canvas(client, sign_canvas_request(_envelope(ctx), CANVAS_SECRET))
    assert resp.status_code == 303
    parts = urlsplit(resp.location)
    assert parts.path == "/pay/agent/login" and parse_qs(parts.query)["next"] == [CUSTOMER]
    signed = login(client, "agent@example.com", next_url=CUSTOMER)
    assert signed.status_code == 302 and signed.location.endswith(CUSTOMER)


def test_canvas_record_id_comes_from_the_page_record_without_a_parameter(
    crm_app: Flask, agent: FlaskClient, ctx: Context
) -> None:
    envelope = _envelope(ctx)
    del envelope["context"]["environment"]["parameters"]["recordId"]
    resp = _canvas(agent, sign_canvas_request(envelope, CANVAS_SECRET))
    assert resp.location.endswith("/pay/agent/customers/001000000000001AAA")


@pytest.mark.parametrize(
    "case", ["tampered", "other_secret", "algorithm", "stale", "garbage", "missing"]
)
def test_canvas_launch_refuses_what_salesforce_did_not_sign(
    crm_app: Flask, agent: FlaskClient, ctx: Context, case: str
) -> None:
    good = sign_canvas_request(_envelope(ctx), CANVAS_SECRET)
    signed_request = {
        "tampered": good.split(".")[0]
        + "."
        + sign_canvas_request(
            _envelope(ctx, context={"environment": {"parameters": {"recordId": "CUST-0002"}}}),
            CANVAS_SECRET,
        ).split(".")[1],
        "other_secret": sign_canvas_request(_envelope(ctx), "another-secret"),
        "algorithm": sign_canvas_request(_envelope(ctx, algorithm="HMACSHA1"), CANVAS_SECRET),
        "stale": sign_canvas_request(
            _envelope(ctx, issuedAt=int((ctx.now() - timedelta(hours=1)).timestamp())),
            CANVAS_SECRET,
        ),
        "garbage": "not-a-signed-request",
        "missing": "",
    }[case]
    resp = _canvas(agent, signed_request)
    assert resp.status_code == 403
    assert "did not come from our Salesforce app" in resp.text
    assert "live-salesforce-session-token" not in resp.text and "CUST-000" not in resp.text


def test_canvas_secret_may_live_in_the_vault_and_its_absence_is_explained(
    app: Flask, agent: FlaskClient, ctx: Context
) -> None:
    signed_request = sign_canvas_request(_envelope(ctx), CANVAS_SECRET)
    missing = _canvas(agent, signed_request)
    assert missing.status_code == 503 and "CRM_PAY_SALESFORCE_CANVAS_SECRET" in missing.text
    put_secret(ctx, "canvas.consumer_secret", CANVAS_SECRET)
    assert _canvas(agent, signed_request).location.endswith(CUSTOMER)


def _hubspot(
    client: FlaskClient, query: str, *, age: float = 0, secret: str = HUBSPOT_SECRET, **headers: str
) -> Any:
    timestamp = str(int((time.time() - age) * 1000))
    url = f"http://shop.test/pay/agent/launch/hubspot?{query}"
    signature = hubspot_signature_v3("GET", url, b"", timestamp, secret)
    return client.get(
        f"/pay/agent/launch/hubspot?{query}",
        headers={
            "X-HubSpot-Signature-v3": signature,
            "X-HubSpot-Request-Timestamp": timestamp,
            **headers,
        },
    )


HS_QUERY = "associatedObjectId=CUST-0001&associatedObjectType=CONTACT&portalId=62515"


def test_hubspot_card_launch_with_a_valid_signature_lands(
    crm_app: Flask, agent: FlaskClient
) -> None:
    resp = _hubspot(agent, HS_QUERY)
    assert resp.status_code == 303 and resp.location.endswith(CUSTOMER)


@pytest.mark.parametrize("case", ["stale", "other_secret", "unsigned", "query_changed"])
def test_hubspot_launch_refuses_stale_or_wrong_signatures(
    crm_app: Flask, agent: FlaskClient, case: str
) -> None:
    if case == "stale":
        resp = _hubspot(agent, HS_QUERY, age=6 * 60)
    elif case == "other_secret":
        resp = _hubspot(agent, HS_QUERY, secret="not-the-client-secret")
    elif case == "unsigned":
        resp = agent.get(f"/pay/agent/launch/hubspot?{HS_QUERY}")
    else:
        good = _hubspot(agent, HS_QUERY)
        assert good.status_code == 303
        timestamp = str(int(time.time() * 1000))
        signature = hubspot_signature_v3(
            "GET",
            f"http://shop.test/pay/agent/launch/hubspot?{HS_QUERY}",
            b"",
            timestamp,
            HUBSPOT_SECRET,
        )
        resp = agent.get(
            "/pay/agent/launch/hubspot?" + HS_QUERY.replace("CUST-0001", "CUST-0002"),
            headers={"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp},
        )
    assert resp.status_code == 403 and "did not come from our HubSpot app" in resp.text


def test_hubspot_card_fetch_gets_a_launch_link_for_its_iframe(
    crm_app: Flask, agent: FlaskClient
) -> None:
    resp = _hubspot(agent, HS_QUERY, Accept="application/json")
    assert resp.status_code == 200
    body = resp.get_json()
    link = body["launch_url"]
    assert body["primaryAction"]["type"] == "IFRAME" and body["primaryAction"]["uri"] == link
    assert link.startswith("http://shop.test/pay/agent/launch/link?t=")
    opened = agent.get(link.removeprefix("http://shop.test"))
    assert opened.status_code == 303 and opened.location.endswith(CUSTOMER)


def test_launch_link_lands_and_expires(app: Flask, agent: FlaskClient, ctx: Context) -> None:
    link = launch_link(ctx, "CUST-0001", config=LaunchConfig(), minutes=5)
    path = link.removeprefix("http://shop.test")
    resp = agent.get(path)
    assert resp.status_code == 303 and resp.location.endswith(CUSTOMER)
    base = ctx.clock
    ctx.clock = lambda: base() + timedelta(minutes=6)
    expired = agent.get(path)
    assert expired.status_code == 410 and "expired" in expired.text
    assert "CUST-0001" not in expired.text


@pytest.mark.parametrize("token", ["", "garbage", "x.y", "FORGED"])
def test_forged_launch_links_are_refused(
    app: Flask, agent: FlaskClient, ctx: Context, token: str
) -> None:
    if token == "FORGED":
        other = LaunchConfig(link_secret="a-different-launch-secret-value")
        token = launch_link(ctx, "CUST-0001", config=other).split("t=")[1]
    resp = agent.get("/pay/agent/launch/link", query_string={"t": token})
    assert resp.status_code == 400 and "not valid" in resp.text


def test_launch_link_for_another_agent_is_refused(app: Flask, signed_in: Any, ctx: Context) -> None:
    link = launch_link(ctx, "CUST-0001", config=LaunchConfig(), agent="Agent@Example.com")
    path = link.removeprefix("http://shop.test")
    assert signed_in("agent").get(path).location.endswith(CUSTOMER)
    other = signed_in("supervisor").get(path)
    assert other.status_code == 403 and "made for another agent" in other.text


def test_a_launch_link_carries_the_call_for_a_keypad_payment(
    app: Flask, agent: FlaskClient, ctx: Context
) -> None:
    call_sid = "CA" + "0f" * 16
    result = app.test_cli_runner().invoke(
        launch_url, ["--customer", "CUST-0001", "--call-sid", call_sid]
    )
    assert result.exit_code == 0, result.output
    landed = agent.get(result.output.strip().removeprefix("http://shop.test"))
    assert landed.status_code == 303
    assert landed.location.endswith(f"{CUSTOMER}?call_sid={call_sid}")
    # not a Call SID: refused when the link is made, with what a Call SID looks like
    bad = app.test_cli_runner().invoke(
        launch_url, ["--customer", "CUST-0001", "--call-sid", "4111111111111111"]
    )
    assert bad.exit_code == 1 and "start with CA and 32 hex digits" in bad.output
    assert "4111111111111111" not in bad.output  # what was pasted is not repeated


def test_launch_url_command_prints_a_working_link(app: Flask, agent: FlaskClient) -> None:
    result = app.test_cli_runner().invoke(launch_url, ["--customer", "CUST-0001", "--minutes", "2"])
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link.startswith("http://shop.test/pay/agent/launch/link?t=")
    assert agent.get(link.removeprefix("http://shop.test")).location.endswith(CUSTOMER)
    bad = app.test_cli_runner().invoke(launch_url, ["--customer", "<script>"])
    assert bad.exit_code == 1 and "did not say which customer" in bad.output


def test_launch_pages_need_no_csrf_token_but_the_console_still_does(
    crm_app: Flask, agent: FlaskClient, ctx: Context
) -> None:
    assert _canvas(agent, sign_canvas_request(_envelope(ctx), CANVAS_SECRET)).status_code == 303
    page = agent.get(CUSTOMER)
    assert csrf_of(page.text)
    assert agent.post("/pay/admin/sync/replay-all", data={"confirm": "yes"}).status_code == 400
