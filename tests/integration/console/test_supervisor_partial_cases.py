"""Partial cases through the real stack (API, pay page, Braintree SDK against the sandbox,
supervisor console): a pay link for INV-1004 paid with less than it owes opens one; the
supervisor sends a pay link for the rest from the case page, or a second payment pays
the rest and the case resolves by itself; a payment on account or in full opens none."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm_pay.persistence.models import Case, Message, Payment
from crm_pay.services.context import Context
from crm_pay.services.pay_links import pay_url_of
from paytest import csrf_of, paid, pay

INVOICE = "INV-1004"  # CUST-0001's smaller open invoice in the builtin CRM's demo data


def _owed(client: FlaskClient, auth: dict[str, str], ref: str = INVOICE) -> Decimal:
    customer = client.get("/pay/api/v1/customers/CUST-0001", headers=auth).get_json()
    return next(
        (Decimal(i["outstanding"]) for i in customer["invoices"] if i["number"] == ref),
        Decimal("0.00"),
    )


def _partial_cases(ctx: Context) -> list[tuple[int, str | None, str, str | None]]:
    """(id, payment, status, resolution code) of every partial case."""
    with ctx.db.transaction() as s:
        return [
            (c.id, c.payment_id, c.status, c.resolution_code)
            for c in s.scalars(select(Case).where(Case.kind == "partial").order_by(Case.id))
        ]


def _act(sup: FlaskClient, case_id: int, action: str, **form: str) -> str:
    page = sup.get(f"/pay/supervisor/cases/{case_id}")
    resp = sup.post(
        f"/pay/supervisor/cases/{case_id}/{action}",
        data={"csrf_token": csrf_of(page.text), **form},
    )
    assert resp.status_code == 302
    return sup.get(f"/pay/supervisor/cases/{case_id}").text


def _payments(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(Payment)) or 0)


def test_the_supervisor_sends_a_pay_link_for_the_rest_and_the_customer_pays_it(
    client: FlaskClient,
    auth: dict[str, str],
    ctx: Context,
    signed_in: Callable[..., FlaskClient],
) -> None:
    owed = _owed(client, auth)
    first = paid(client, auth, "40.00", allocations={INVOICE: "40.00"})
    rest = owed - Decimal("40.00")
    ((case_id, payment_id, status, _),) = _partial_cases(ctx)
    assert (payment_id, status) == (first["id"], "open")

    sup = signed_in("supervisor")
    queue = sup.get("/pay/supervisor/?kind=partial").text
    assert f'data-case="{case_id}"' in queue
    page = sup.get(f"/pay/supervisor/cases/{case_id}").text
    assert f"Still owed now: {INVOICE} {rest}" in page
    assert f"Send the customer a pay link for {rest} USD" in page
    offered = re.findall(r'<option value="(\w+)">', page.split('id="resolution-code"')[1])
    assert offered[0] == "arranged"
    assert "new_link_sent" not in offered and "paid_in_full" not in offered
    before = _payments(ctx)

    after = _act(sup, case_id, "send-link", channel="email")

    assert f"Pay link for the rest ({rest} USD" in after
    assert 'id="case-done"' in after
    ((_, _, status, code),) = _partial_cases(ctx)
    assert (status, code) == ("resolved", "new_link_sent")
    assert _payments(ctx) == before + 1
    with ctx.db.transaction() as s:
        new = s.scalars(select(Payment).order_by(Payment.created_at.desc())).first()
        assert new is not None and new.id != first["id"]
        assert new.amount_minor == int(rest * 100)
        assert new.requested_allocations == {INVOICE: int(rest * 100)}
        kinds = s.scalars(select(Message.kind).where(Message.payment_id == new.id)).all()
        assert kinds == ["pay_link"]
        url = pay_url_of(s, ctx, new.id)
    assert url is not None

    again = _act(sup, case_id, "send-link", channel="email")  # a second click
    assert "No link was sent" in again
    assert _payments(ctx) == before + 1

    assert pay(client, url).status_code == 200  # the customer pays the rest
    assert _owed(client, auth) == Decimal("0.00")
    assert len(_partial_cases(ctx)) == 1  # paid in full: no new case


def test_a_second_payment_of_the_rest_resolves_the_case_by_itself(
    client: FlaskClient,
    auth: dict[str, str],
    ctx: Context,
    signed_in: Callable[..., FlaskClient],
) -> None:
    owed = _owed(client, auth)
    paid(client, auth, "40.00", allocations={INVOICE: "40.00"})
    ((case_id, _, _, _),) = _partial_cases(ctx)
    rest = f"{owed - Decimal('40.00'):.2f}"

    paid(client, auth, rest, allocations={INVOICE: rest})

    ((_, _, status, code),) = _partial_cases(ctx)
    assert (status, code) == ("resolved", "paid_in_full")
    sup = signed_in("supervisor")
    page = sup.get(f"/pay/supervisor/cases/{case_id}").text
    assert "paid in full" in page and 'id="send-link-form"' not in page
    assert f'data-case="{case_id}"' not in sup.get("/pay/supervisor/?kind=partial").text


@pytest.mark.parametrize("how", ["on account", "in full"])
def test_a_payment_on_account_or_in_full_opens_no_partial_case(
    client: FlaskClient, auth: dict[str, str], ctx: Context, how: str
) -> None:
    if how == "on account":
        paid(client, auth, "40.00")  # part of the balance, no invoice named
    else:
        whole = f"{_owed(client, auth):.2f}"
        paid(client, auth, whole, allocations={INVOICE: whole})
    assert _partial_cases(ctx) == []
