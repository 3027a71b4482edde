"""An agent asks for a write-off from the customer's page; the balance moves only when a
supervisor approves it, once; bad input is refused in words and asks for nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm_pay.persistence.models import ApprovalRequest
from crm_pay.services.context import Context
from paytest import balance, csrf_of

FORM = "/pay/agent/customers/CUST-0001/adjustment"


def _form(agent: FlaskClient) -> dict[str, str]:
    html = agent.get(FORM).text
    key = re.search(r'name="adjustment_key" value="([^"]+)"', html)
    assert key, html
    return {"csrf_token": csrf_of(html), "adjustment_key": key.group(1)}


def _requests(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(ApprovalRequest)) or 0)


def test_a_write_off_waits_for_a_second_person_then_lowers_the_balance_once(
    app: Flask,
    ctx: Context,
    agent: FlaskClient,
    signed_in: Callable[[str], FlaskClient],
    supervisor: dict[str, str],
) -> None:
    api = app.test_client()
    before = Decimal(balance(api, supervisor))
    customer = agent.get("/pay/agent/customers/CUST-0001").text
    assert 'id="adjustment-link"' in customer
    form = {
        **_form(agent),
        "kind": "write_off",
        "invoice": "INV-1001",
        "amount": "5.00",
        "reason": "Late delivery, agreed with the customer",
    }

    resp = agent.post(FORM, data=form)
    again = agent.post(FORM, data=form)  # a double click asks once

    assert resp.status_code == 302 and again.status_code == 302
    assert "supervisor must approve" in agent.get(resp.location).text
    assert _requests(ctx) == 1
    assert Decimal(balance(api, supervisor)) == before  # nothing booked yet

    boss = signed_in("supervisor")
    page = boss.get("/pay/supervisor/approvals").text
    assert "Late delivery" in page
    action = re.search(r'action="(/pay/supervisor/approvals/[^"/]+/approve)"', page)
    key = re.search(r'name="approval_key" value="([^"]+)"', page)
    assert action and key, page
    data = {"csrf_token": csrf_of(page), "approval_key": key.group(1), "note": "ok"}
    boss.post(action.group(1), data=data)
    boss.post(action.group(1), data=data)  # approved twice: booked once

    assert Decimal(balance(api, supervisor)) == before - Decimal("5.00")


def test_bad_requests_are_refused_in_words_and_ask_for_nothing(
    app: Flask, ctx: Context, agent: FlaskClient, supervisor: dict[str, Any]
) -> None:
    api = app.test_client()
    before = balance(api, supervisor)
    cases = [
        ({"kind": "write_off", "invoice": "", "amount": "5.00", "reason": "x"}, "invoice"),
        (
            {"kind": "write_off", "invoice": "INV-1001", "amount": "9999.00", "reason": "x"},
            "at most",
        ),
        ({"kind": "write_off", "invoice": "INV-1001", "amount": "5.00", "reason": " "}, "reason"),
        ({"kind": "loan", "amount": "5.00", "reason": "x"}, "write-off or an adjustment"),
    ]
    for fields, says in cases:
        resp = agent.post(FORM, data={**_form(agent), **fields})
        assert resp.status_code in (400, 422), (fields, resp.status_code)
        error = re.search(r'id="adjustment-error">([^<]*)<', resp.text)
        assert error and says in error.group(1).replace("&#39;", "'"), (fields, resp.text[:300])
    assert _requests(ctx) == 0
    assert balance(api, supervisor) == before
