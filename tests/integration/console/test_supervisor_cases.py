"""The supervisor's case queue and case page: sorted by SLA, overdue marked, filters, and
the actions on a case (note, assign, snooze, resolve, a new pay link) through the forms."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.current import get_context
from crm_pay.persistence.models import Case, Message, Payment
from crm_pay.services.context import Context
from crm_pay.testing import Clock
from paytest import create_link, csrf_of, paid, pay

QUEUE = "/pay/supervisor/"


def dispute_case(client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer) -> int:
    payment = paid(client, auth, amount="45.00")
    dispute = sandbox.open_dispute(payment["psp_reference"])
    form = sandbox.webhook_form("dispute_opened", dispute)
    assert client.post("/pay/webhooks/braintree", data=form).get_json()["status"] == "processed"
    return _case_of(client.application, "disputed")


def forged_webhook_case(client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer) -> int:
    payment = paid(client, auth, amount="12.00")
    form = sandbox.webhook_form("transaction_settled", payment["psp_reference"])
    public_key, _, mac = form["bt_signature"].partition("|")
    forged = {"bt_signature": f"{public_key}|{'0' * len(mac)}", "bt_payload": form["bt_payload"]}
    resp = client.post("/pay/webhooks/braintree", data=forged)
    assert resp.get_json()["error"]["code"] == "webhook_rejected"
    return _case_of(client.application, "webhook_rejected")


def _case_of(app: Flask, kind: str) -> int:
    with get_context(app).db.transaction() as s:
        return int(s.scalars(select(Case.id).where(Case.kind == kind)).one())


def rows(html: str) -> list[tuple[str, str, bool]]:
    """(case id, kind, overdue) of each queue row, in order."""
    return [
        (m.group(1), m.group(2), "overdue" in m.group(3))
        for m in re.finditer(
            r'<tr data-case="(\d+)" data-kind="(\w+)" data-status="\w+" class="([^"]*)"', html
        )
    ]


def act(client: FlaskClient, case_id: int, action: str, **form: str) -> str:
    page = client.get(f"/pay/supervisor/cases/{case_id}")
    resp = client.post(
        f"/pay/supervisor/cases/{case_id}/{action}",
        data={"csrf_token": csrf_of(page.text), **form},
    )
    assert resp.status_code == 302, resp.text
    return client.get(f"/pay/supervisor/cases/{case_id}").text


def test_the_queue_is_sorted_by_sla_marks_overdue_and_filters(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    clock: Clock,
    signed_in: Callable[..., FlaskClient],
) -> None:
    disputed = dispute_case(client, auth, sandbox)  # due in 24 h
    forged = forged_webhook_case(client, auth, sandbox)  # due in 4 h
    clock.advance(hours=5)
    sup = signed_in("supervisor")
    html = sup.get(QUEUE).text
    assert rows(html) == [
        (str(forged), "webhook_rejected", True),
        (str(disputed), "disputed", False),
    ]
    assert rows(sup.get(f"{QUEUE}?kind=disputed").text) == [(str(disputed), "disputed", False)]
    assert rows(sup.get(f"{QUEUE}?older_than_hours=6").text) == []
    assert rows(sup.get(f"{QUEUE}?assignee=mine").text) == []
    assert rows(sup.get(f"{QUEUE}?state=resolved").text) == []
    bad = sup.get(f"{QUEUE}?state=sleeping")
    assert bad.status_code == 422 and "is not a case state" in bad.text
    assert signed_in("agent").get(QUEUE).status_code == 403
    assert 'id="cases-link"' in sup.get("/pay/agent/").text  # the console's navigation


def test_a_supervisor_works_a_case_from_its_page(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    signed_in: Callable[..., FlaskClient],
) -> None:
    case_id = dispute_case(client, auth, sandbox)
    sup = signed_in("supervisor")
    page = sup.get(f"/pay/supervisor/cases/{case_id}").text
    assert "Case #" in page and "CUST-0001" in page and 'id="payment-link"' in page
    assert 'data-source="payment"' in page and 'data-source="crm_sync"' in page
    assert 'id="refund-link"' in page  # refunds stay on the payment page

    page = act(sup, case_id, "note", note="Rang the customer's bank")
    assert "Rang the customer&#39;s bank" in page or "Rang the customer's bank" in page
    page = act(sup, case_id, "assign", assignee="me")
    assert '<dd id="case-assignee">supervisor@example.com</dd>' in page
    assert rows(sup.get(f"{QUEUE}?assignee=mine").text)[0][0] == str(case_id)

    page = act(sup, case_id, "resolve", code="refunded", note="wrong code")
    assert "not a resolution of a disputed case" in page
    assert '<dd id="case-status">assigned</dd>' in page
    page = act(sup, case_id, "snooze", until="2001-01-01T10:00")
    assert "not in the future" in page
    page = act(sup, case_id, "resolve", code="dispute_won", note="won with evidence")
    assert '<dd id="case-status">resolved</dd>' in page and 'id="case-resolution"' in page
    assert [a for a in re.findall(r'<li data-action="(\w+)"', page)] == [
        "opened",
        "note",
        "assigned",
        "resolved",
    ]
    page = act(sup, case_id, "resolve", code="dispute_won", note="again")
    assert "already resolved" in page
    with ctx.db.transaction() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == "resolved" and case.note == "won with evidence"
        assert case.resolution_seconds is not None and case.resolved_by.startswith("user:")


def test_a_new_pay_link_from_a_case_is_one_new_payment_however_often_it_is_clicked(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    signed_in: Callable[..., FlaskClient],
) -> None:
    case_id = dispute_case(client, auth, sandbox)
    sup = signed_in("supervisor")
    with ctx.db.transaction() as s:
        before = s.scalar(select(func.count()).select_from(Payment))
    page = act(sup, case_id, "send-link", channel="email")
    assert "sent by email" in page
    act(sup, case_id, "send-link", channel="email")  # a second click
    with ctx.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == (before or 0) + 1
        new = s.scalars(select(Payment).order_by(Payment.created_at.desc())).first()
        assert new is not None and new.amount_minor == 4500 and new.channel == "link"
        links = s.scalars(
            select(Message.channel).where(Message.payment_id == new.id, Message.kind == "pay_link")
        ).all()
        assert links == ["email", "email"]  # sent, then sent again
    bad = act(sup, case_id, "send-link", channel="pigeon")
    assert "No link was sent" in bad


def test_an_unknown_payment_is_resolved_by_hand_from_its_case(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    signed_in: Callable[..., FlaskClient],
) -> None:
    _, p = create_link(client, auth, amount="31.00")
    sandbox.fail_next("malformed")  # an answer that cannot be trusted: nothing done there
    assert pay(client, p["pay_url"]).get_json()["status"] == "unknown"
    case_id = _case_of(client.application, "amount_mismatch")
    sup = signed_in("supervisor")
    page = sup.get(f"/pay/supervisor/cases/{case_id}").text
    assert 'id="resolve-payment-form"' in page
    page = act(sup, case_id, "resolve-payment", note="")
    assert "The payment was not resolved" in page  # a reason is required
    page = act(sup, case_id, "resolve-payment", note="no sale in the control panel")
    assert "Payment resolved: it is now failed" in page
    assert 'id="resolve-payment-form"' not in page
    with ctx.db.transaction() as s:
        payment = s.get(Payment, p["id"])
        assert payment is not None and payment.status == "failed"
    assert re.findall(r'<li data-action="(\w+)"', page) == ["opened", "note"]
    assert sandbox.sales_count(f"{p['id']}-1") == 0  # nothing was charged by hand
