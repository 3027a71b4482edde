"""Keypad payments through their entry points: the JSON API (``/api/v1/payments/<id>/
keypad…``) and the agent console (take payment by keypad, the payment page's panel).

The real ``twilio`` SDK (the adapter the wiring builds) talks HTTP to the telephony
stand-in, whose signed status callbacks reach the served app; the card the caller keys
is vaulted in the Braintree sandbox and charged there. Braintree's published test card
only. Every refusal is shown to change nothing: no row, no call to the provider."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from connectors.psp.braintree_sandbox import SandboxServer
from connectors.telephony.twilio_sandbox import TwilioSandboxServer
from crm_pay.persistence.models import Base, KeypadSession
from crm_pay.ports import CallEvent
from crm_pay.services import calls
from crm_pay.services.access import create_api_key
from crm_pay.services.context import Context
from paytest import Emitted, card_fragments, csrf_of

TEST_CARD = "4111111111111111"  # Braintree's published Visa test number
API = "/pay/api/v1/payments"
CONSOLE = "/pay/agent"


# Rows a request may touch without changing anything a refusal must leave alone: a key's
# or a user's last use, the console's session, the CRM's customer copy a page refreshed.
_READ_SIDE = frozenset({"api_keys", "users", "console_sessions", "customers", "invoices"})


def _everything(ctx: Context) -> str:
    with ctx.db.engine.connect() as conn:
        return "\n".join(
            repr(conn.execute(select(table)).all()) for table in Base.metadata.sorted_tables
        )


def _stored(ctx: Context) -> str:
    """Every row of every table but :data:`_READ_SIDE`: payments, captures, keys,
    audit, outbox, receipts..."""
    with ctx.db.engine.connect() as conn:
        return "\n".join(
            repr(conn.execute(select(table)).all())
            for table in Base.metadata.sorted_tables
            if table.name not in _READ_SIDE
        )


def _ivr_payment(client: FlaskClient, auth: dict[str, str], **body: str) -> str:
    resp = client.post(
        API,
        json={"customer": "CUST-0001", "amount": "100.00", "currency": "USD", "channel": "ivr"}
        | body,
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["channel"] == body.get("channel", "ivr")
    return str(resp.get_json()["id"])


def _requests_to_provider(ctx: Context, payment_id: str) -> int:
    with ctx.db.transaction() as s:
        return sum(
            s.scalars(
                select(KeypadSession.requests).where(KeypadSession.payment_id == payment_id)
            ).all()
        )


def _answered(twilio: TwilioSandboxServer) -> set[int | None]:
    return {d.status for d in twilio.wait_for_callbacks(10)}


# ----------------------------------------------------------------------------- the API


def test_an_agent_takes_a_keypad_payment_through_the_api_and_it_ends_approved(
    client: FlaskClient,
    auth: dict[str, str],
    served: Context,
    twilio: TwilioSandboxServer,
    sandbox: SandboxServer,
    live: Emitted,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    payment_id = _ivr_payment(client, auth)
    call = twilio.place_call()
    answers: list[str] = []

    def post(path: str, **body: str) -> dict[str, Any]:
        resp = client.post(f"{API}/{payment_id}/keypad{path}", json=body, headers=auth)
        answers.append(resp.text)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()  # type: ignore[no-any-return]

    before = client.get(f"{API}/{payment_id}/keypad", headers=auth)
    assert before.status_code == 200 and before.get_json()["session"] is None

    started = post("", call_sid=call.sid)
    assert (started["status"], started["field"]) == ("capturing", "payment-card-number")
    twilio.press(call.sid, TEST_CARD + "#")
    assert _answered(twilio) == {200}
    entered = client.get(f"{API}/{payment_id}/keypad", headers=auth).get_json()["session"]
    assert entered["card"]["last4"] == "1111"
    assert "payment-card-number" not in entered["fields_left"]

    post("/ask", field="expiration-date")
    twilio.press(call.sid, "1230#")
    post("/ask", field="security-code")
    twilio.press(call.sid, "123#")
    assert _answered(twilio) == {200}
    post("/complete")
    assert _answered(twilio) == {200}

    done = client.get(f"{API}/{payment_id}/keypad", headers=auth).get_json()["session"]
    assert done["status"] == "charged"
    assert done["card"] == {"brand": "Visa", "last4": "1111", "exp": "12/2030"}
    payment = client.get(f"{API}/{payment_id}", headers=auth).get_json()
    assert payment["status"] == "submitted_for_settlement"
    assert payment["receipt_number"]
    # the agent's words, field by field, reached the live room
    words = [m["keypad"]["words"] for m in live.messages if "words" in m.get("keypad", {})]
    assert "Card number ✓ (xxxxxxxxxxxx1111)" in words  # the last 4 digits, never more
    assert {"Expiry ✓", "Security code ✓"} <= set(words)

    # the card number is nowhere: not stored, logged, answered or sent to the agent
    everything = "\n".join([_everything(served), caplog.text, repr(live.messages), *answers])
    assert not card_fragments(everything, TEST_CARD)


def _refused_as_not_set_up(resp: Any) -> None:
    assert resp.status_code == 503, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == "telephony_unavailable"
    assert "not set up" in error["message"] and "pay link" in error["message"]


def test_an_ivr_payment_is_refused_at_creation_when_keypad_payments_are_not_set_up(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    ctx.telephony = None  # an installation without keypad payments
    before = _stored(ctx)
    body = {"customer": "CUST-0001", "amount": "100.00", "currency": "USD", "channel": "ivr"}
    key = {**auth, "Idempotency-Key": uuid.uuid4().hex}

    _refused_as_not_set_up(client.post(API, json=body, headers=key))
    assert _stored(ctx) == before  # no payment, no claimed key, no audit, no CRM message
    # the same key is free: once the customer is sent a link instead, it is made
    link = client.post(API, json=body | {"channel": "link"}, headers=key)
    assert link.status_code == 201, link.get_json()
    assert link.get_json()["pay_url"]


def test_keypad_steps_answer_503_and_change_nothing_once_keypad_payments_are_gone(
    client: FlaskClient, auth: dict[str, str], served: Context
) -> None:
    payment_id = _ivr_payment(client, auth)  # made while keypad payments were set up
    served.telephony = None  # then the Twilio settings were removed
    before = _stored(served)
    for path, body in (
        ("", {"call_sid": "CA" + "0" * 32}),
        ("/ask", {"field": "expiration-date"}),
        ("/complete", {}),
        ("/cancel", {}),
    ):
        _refused_as_not_set_up(
            client.post(f"{API}/{payment_id}/keypad{path}", json=body, headers=auth)
        )
    assert _stored(served) == before


def test_an_unknown_field_is_a_422_and_nothing_is_asked(
    client: FlaskClient, auth: dict[str, str], served: Context, twilio: TwilioSandboxServer
) -> None:
    payment_id = _ivr_payment(client, auth)
    call = twilio.place_call()
    client.post(f"{API}/{payment_id}/keypad", json={"call_sid": call.sid}, headers=auth)
    twilio.wait_for_callbacks(10)
    before = (_stored(served), _requests_to_provider(served, payment_id))

    for body, status in (
        ({"field": "pin"}, 422),  # not a card field
        ({"field": "card-number"}, 422),
        ({}, 422),  # no field at all
        ({"field": "expiration-date", "x": 1}, 422),  # a field the route does not take
    ):
        resp = client.post(f"{API}/{payment_id}/keypad/ask", json=body, headers=auth)
        assert resp.status_code == status, (body, resp.get_json())
    bad = client.post(f"{API}/{payment_id}/keypad/ask", json={"field": "pin"}, headers=auth)
    assert bad.status_code == 422
    assert bad.get_json()["error"]["code"] == "invalid_field"
    assert "expiration-date" in bad.get_json()["error"]["message"]
    twilio.wait_for_callbacks(10)
    assert (_stored(served), _requests_to_provider(served, payment_id)) == before


def test_steps_the_capture_does_not_allow_are_409s_and_change_nothing(
    client: FlaskClient, auth: dict[str, str], served: Context, twilio: TwilioSandboxServer
) -> None:
    link_payment = _ivr_payment(client, auth, channel="link")
    payment_id = _ivr_payment(client, auth)
    call = twilio.place_call()

    def refused(pid: str, path: str, body: dict[str, str], code: str) -> None:
        before = (_stored(served), _requests_to_provider(served, pid))
        resp = client.post(f"{API}/{pid}/keypad{path}", json=body, headers=auth)
        assert resp.status_code == 409, (path, resp.get_json())
        assert resp.get_json()["error"]["code"] == code
        twilio.wait_for_callbacks(10)
        assert (_stored(served), _requests_to_provider(served, pid)) == before

    # no capture yet: nothing to ask for, complete or cancel
    for path in ("/ask", "/complete", "/cancel"):
        refused(payment_id, path, {"field": "expiration-date"} if path == "/ask" else {},
                "no_keypad_capture")  # fmt: skip
    # a pay-link payment is not taken on the keypad
    refused(link_payment, "", {"call_sid": call.sid}, "conflict")

    started = client.post(f"{API}/{payment_id}/keypad", json={"call_sid": call.sid}, headers=auth)
    assert started.status_code == 200
    twilio.wait_for_callbacks(10)
    # one capture at a time; and nothing entered yet, so it cannot be completed
    refused(payment_id, "", {"call_sid": call.sid}, "capture_in_progress")
    refused(payment_id, "/complete", {}, "capture_incomplete")

    cancelled = client.post(f"{API}/{payment_id}/keypad/cancel", json={}, headers=auth)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    twilio.wait_for_callbacks(10)  # the provider's own "cancelled" callback has landed
    # nothing was charged: the payment is failed in words, and may be started again
    after = client.get(f"{API}/{payment_id}", headers=auth).get_json()
    assert after["status"] == "failed"
    refused(payment_id, "/ask", {"field": "expiration-date"}, "conflict")
    refused(payment_id, "/cancel", {}, "conflict")


def test_a_step_sent_again_with_its_idempotency_key_is_done_once(
    client: FlaskClient, auth: dict[str, str], served: Context, twilio: TwilioSandboxServer
) -> None:
    payment_id = _ivr_payment(client, auth)
    call = twilio.place_call()
    client.post(f"{API}/{payment_id}/keypad", json={"call_sid": call.sid}, headers=auth)
    twilio.wait_for_callbacks(10)
    key = {**auth, "Idempotency-Key": uuid.uuid4().hex}
    body = {"field": "expiration-date"}

    first = client.post(f"{API}/{payment_id}/keypad/ask", json=body, headers=key)
    asked = _requests_to_provider(served, payment_id)
    again = client.post(f"{API}/{payment_id}/keypad/ask", json=body, headers=key)
    other = client.post(
        f"{API}/{payment_id}/keypad/ask", json={"field": "security-code"}, headers=key
    )

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert _requests_to_provider(served, payment_id) == asked  # not asked twice
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert _requests_to_provider(served, payment_id) == asked


def test_a_refused_step_frees_its_idempotency_key(
    client: FlaskClient, auth: dict[str, str], served: Context, twilio: TwilioSandboxServer
) -> None:
    payment_id = _ivr_payment(client, auth)
    key = {**auth, "Idempotency-Key": uuid.uuid4().hex}
    body = {"field": "expiration-date"}
    before = _stored(served)
    early = client.post(f"{API}/{payment_id}/keypad/ask", json=body, headers=key)
    assert early.status_code == 409  # no capture yet
    assert _stored(served) == before  # not even the key is kept

    call = twilio.place_call()
    client.post(f"{API}/{payment_id}/keypad", json={"call_sid": call.sid}, headers=auth)
    twilio.wait_for_callbacks(10)
    started = _requests_to_provider(served, payment_id)
    later = client.post(f"{API}/{payment_id}/keypad/ask", json=body, headers=key)
    assert later.status_code == 200, later.get_json()
    assert later.get_json()["field"] == "expiration-date"
    assert _requests_to_provider(served, payment_id) == started + 1  # asked this time


def test_another_agents_key_cannot_steer_the_capture(
    client: FlaskClient, auth: dict[str, str], served: Context, twilio: TwilioSandboxServer
) -> None:
    payment_id = _ivr_payment(client, auth)
    call = twilio.place_call()
    other = {"Authorization": f"Bearer {create_api_key(served, name='other', role='agent')}"}
    before = _stored(served)
    for path, body in (("", {"call_sid": call.sid}), ("/cancel", {})):
        resp = client.post(f"{API}/{payment_id}/keypad{path}", json=body, headers=other)
        assert resp.status_code == 404, resp.get_json()
    assert client.get(f"{API}/{payment_id}/keypad", headers=other).status_code == 404
    assert _stored(served) == before


# ------------------------------------------------------------------------- the console


def _customer_page(agent: FlaskClient, query: str = "") -> str:
    resp = agent.get(f"{CONSOLE}/customers/CUST-0001{query}")
    assert resp.status_code == 200
    return resp.text


def _take_by_keypad(agent: FlaskClient, call_sid: str) -> Any:
    html = _customer_page(agent, f"?call_sid={call_sid}")
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert key
    return agent.post(
        f"{CONSOLE}/customers/CUST-0001/payments",
        data={
            "csrf_token": csrf_of(html),
            "idempotency_key": key.group(1),
            "amount": "40.00",
            "channel": "keypad",
            "call_sid": call_sid,
        },
    )


def test_the_customer_panel_offers_keypad_with_the_call_of_the_page_link(
    signed_in: Any, served: Context
) -> None:
    html = _customer_page(signed_in("agent"), "?call_sid=CA0123456789abcdef0123456789abcdef")
    assert re.search(r'value="keypad" id="channel-keypad" checked', html)
    assert 'name="call_sid"' in html and 'value="CA0123456789abcdef0123456789abcdef"' in html


def test_the_customer_panel_remembers_the_call_the_screen_pop_announced(
    signed_in: Any, served: Context
) -> None:
    agent = signed_in("agent")
    call_sid = "CA" + "ab" * 16
    # the telephony platform said this caller reached this agent (the screen-pop)
    calls.receive_call(
        served,
        CallEvent(caller="+12125550101", agent="agent@example.com", call_sid=call_sid),
        actor="tests",
    )

    html = _customer_page(agent)  # opened without the banner's link

    assert re.search(r'value="keypad" id="channel-keypad" checked', html)
    assert f'value="{call_sid}"' in html
    # another agent, or another customer, is not offered that call
    assert call_sid not in _customer_page(signed_in("agent2"))
    other = agent.get(f"{CONSOLE}/customers/CUST-0002")
    assert other.status_code == 200 and call_sid not in other.text


def test_the_customer_panel_without_keypad_payments_has_no_keypad_choice(
    signed_in: Any, ctx: Context
) -> None:
    ctx.telephony = None  # an installation without keypad payments
    agent = signed_in("agent")
    html = _customer_page(agent, "?call_sid=CA0123456789abcdef0123456789abcdef")
    assert 'value="keypad"' not in html
    # a form posted with it anyway is refused in words, and no payment is made
    before = _stored(ctx)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert key
    resp = agent.post(
        f"{CONSOLE}/customers/CUST-0001/payments",
        data={
            "csrf_token": csrf_of(html),
            "idempotency_key": key.group(1),
            "amount": "40.00",
            "channel": "keypad",
            "call_sid": "CA0123456789abcdef0123456789abcdef",
        },
    )
    assert resp.status_code == 422
    assert "Keypad payments are not set up here" in resp.text
    assert _stored(ctx) == before


def test_taking_payment_by_keypad_without_a_call_is_refused_and_makes_nothing(
    signed_in: Any, served: Context
) -> None:
    agent = signed_in("agent")
    _customer_page(agent)  # the CRM's invoices are booked when the panel is first shown
    before = _stored(served)
    for call_sid, words in (("", "Type the id of the customer"), ("CA 12;", "not a call id")):
        resp = _take_by_keypad(agent, call_sid)
        assert resp.status_code == 422
        assert words in resp.text
        assert 'id="error-call_sid"' in resp.text
    assert _stored(served) == before


def test_the_agent_takes_a_keypad_payment_in_the_console(
    signed_in: Any, served: Context, twilio: TwilioSandboxServer
) -> None:
    agent = signed_in("agent")
    call = twilio.place_call()
    made = _take_by_keypad(agent, call.sid)
    assert made.status_code == 302
    page_url = made.headers["Location"]
    payment_id = page_url.rstrip("/").rsplit("/", 1)[1]
    twilio.wait_for_callbacks(10)

    page = agent.get(page_url).text
    assert 'id="keypad-panel"' in page and "keypad.js" in page
    assert 'data-session="capturing"' in page
    assert re.search(r'id="keypad-complete"\s+disabled', page.replace(" >", ">"))
    csrf = csrf_of(page)
    json_headers = {"Accept": "application/json"}

    twilio.press(call.sid, TEST_CARD + "#")
    assert _answered(twilio) == {200}
    panel = agent.get(f"{CONSOLE}/payments/{payment_id}/keypad").get_json()["session"]
    assert panel["card_last4"] == "1111" and panel["status"] == "capturing"
    assert "Card number ✓" in agent.get(page_url).text

    # Complete before the rest is entered: refused in words, the capture goes on
    early = agent.post(
        f"{CONSOLE}/payments/{payment_id}/keypad/complete",
        data={"csrf_token": csrf},
        headers=json_headers,
    )
    assert early.status_code == 409 and not early.get_json()["ok"]
    assert "Expiry" in early.get_json()["message"]
    assert early.get_json()["session"]["status"] == "capturing"

    for field, keys in (("expiration-date", "1230#"), ("security-code", "123#")):
        asked = agent.post(
            f"{CONSOLE}/payments/{payment_id}/keypad/ask",
            data={"csrf_token": csrf, "field": field},
            headers=json_headers,
        )
        assert asked.status_code == 200 and asked.get_json()["ok"]
        twilio.press(call.sid, keys)
    assert _answered(twilio) == {200}
    assert not re.search(r'id="keypad-complete"\s+disabled', agent.get(page_url).text)

    done = agent.post(
        f"{CONSOLE}/payments/{payment_id}/keypad/complete",
        data={"csrf_token": csrf},
        headers=json_headers,
    )
    assert done.status_code == 200 and done.get_json()["ok"]
    assert _answered(twilio) == {200}
    final = agent.get(page_url).text
    assert 'Approved · receipt <strong id="receipt-number">R-' in final
    assert TEST_CARD not in final and TEST_CARD not in _everything(served)


def test_cancelling_the_card_entry_asks_first_and_fails_the_payment_in_words(
    signed_in: Any, served: Context, twilio: TwilioSandboxServer
) -> None:
    agent = signed_in("agent")
    call = twilio.place_call()
    page_url = _take_by_keypad(agent, call.sid).headers["Location"]
    payment_id = page_url.rstrip("/").rsplit("/", 1)[1]
    twilio.wait_for_callbacks(10)
    csrf = csrf_of(agent.get(page_url).text)
    before = _stored(served)

    question = agent.post(
        f"{CONSOLE}/payments/{payment_id}/keypad/cancel", data={"csrf_token": csrf}
    )
    assert question.status_code == 200 and "End the card entry on the call?" in question.text
    assert _stored(served) == before  # asking is not cancelling

    ended = agent.post(
        f"{CONSOLE}/payments/{payment_id}/keypad/cancel",
        data={"csrf_token": csrf, "confirm": "yes"},
    )
    assert ended.status_code == 302
    page = agent.get(page_url).text
    assert "The card entry was ended" in page
    assert 'id="keypad-start-form"' in page  # the agent may start again on the call
    assert "Card entry ended: the card entry was cancelled." in page  # failed, in words


def test_another_agent_cannot_steer_the_capture_in_the_console(
    signed_in: Any, served: Context, twilio: TwilioSandboxServer
) -> None:
    call = twilio.place_call()
    page_url = _take_by_keypad(signed_in("agent"), call.sid).headers["Location"]
    payment_id = page_url.rstrip("/").rsplit("/", 1)[1]
    twilio.wait_for_callbacks(10)
    other = signed_in("agent2")
    csrf = csrf_of(_customer_page(other))
    before = _stored(served)
    resp = other.post(
        f"{CONSOLE}/payments/{payment_id}/keypad/cancel",
        data={"csrf_token": csrf, "confirm": "yes"},
    )
    assert resp.status_code == 403
    assert other.get(f"{CONSOLE}/payments/{payment_id}/keypad").status_code == 403
    assert _stored(served) == before


def test_a_call_the_provider_does_not_know_leaves_the_payment_to_start_again(
    signed_in: Any, served: Context, twilio: TwilioSandboxServer
) -> None:
    agent = signed_in("agent")
    made = _take_by_keypad(agent, "CA" + "f" * 32)  # no such call at the provider
    assert made.status_code == 302
    page = agent.get(made.headers["Location"]).text
    assert "The card entry on the call did not start" in page
    assert 'id="keypad-start-form"' in page  # start again on the right call
    assert "Created" in page

    call = twilio.place_call()
    payment_id = made.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    again = agent.post(
        f"{CONSOLE}/payments/{payment_id}/keypad/start",
        data={"csrf_token": csrf_of(page), "call_sid": call.sid},
        headers={"Accept": "application/json"},
    )
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["session"]["status"] == "capturing"
