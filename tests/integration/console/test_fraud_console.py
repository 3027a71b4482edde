"""The fraud rules in the consoles: the admin saves a version (a bad one is shown again
with the reason, nothing saved), the supervisor releases a held payment from its case
page (submitted and booked once, even when the form is posted twice) or declines one."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm_pay.persistence.models import Case, Receipt
from crm_pay.services import fraud_rules
from crm_pay.services.context import Context
from paytest import create_link, csrf_of, pay

HOLD_ALL = [
    {
        "id": "hold-all",
        "kind": "velocity",
        "scope": "customer",
        "max_payments": 0,
        "window_minutes": 60,
        "action": "review",
    }
]


def _save(admin: FlaskClient, rules: object, *, note: str = "") -> tuple[int, str]:
    page = admin.get("/pay/admin/fraud/")
    based_on = re.search(r'name="based_on" value="(\d+)"', page.text)
    assert based_on is not None
    text = rules if isinstance(rules, str) else json.dumps(rules)
    resp = admin.post(
        "/pay/admin/fraud/",
        data={
            "csrf_token": csrf_of(page.text),
            "rules": text,
            "note": note,
            "based_on": based_on.group(1),
        },
    )
    return resp.status_code, resp.text


def test_the_admin_saves_rules_as_versions_and_a_bad_set_saves_nothing(
    signed_in: Callable[..., FlaskClient], ctx: Context
) -> None:
    admin = signed_in("admin")
    assert "No rules saved" in admin.get("/pay/admin/fraud/").text

    status, page = _save(admin, HOLD_ALL, note="card testing seen on Monday")
    assert status == 302
    page = admin.get("/pay/admin/fraud/").text
    assert "Version <strong>1</strong> is in force" in page
    assert 'data-version="1"' in page and "card testing seen on Monday" in page
    assert fraud_rules.rules_in_force(ctx).version == 1

    bad = '[{"id": "x", "kind": "velocity", "scope": "planet"}'
    status, page = _save(admin, bad)
    assert status == 422
    assert "not valid JSON" in page
    assert "planet" in page  # what was typed is shown again
    status, page = _save(admin, [{"id": "x", "kind": "velocity", "scope": "planet"}])
    assert status == 422
    assert "scope must be one of" in page
    assert fraud_rules.current_version(ctx)["version"] == 1
    # an agent or supervisor cannot open the page
    assert signed_in("supervisor").get("/pay/admin/fraud/").status_code in (302, 403)


def _held_case(client: FlaskClient, auth: dict[str, str], ctx: Context) -> tuple[int, str]:
    _, created = create_link(client, auth, amount="25.00")
    assert pay(client, created["pay_url"]).get_json()["status"] == "held"
    with ctx.db.transaction() as s:
        case_id = s.scalars(
            select(Case.id).where(Case.kind == "fraud_review", Case.subject == created["id"])
        ).one()
    return int(case_id), str(created["id"])


def _post(sup: FlaskClient, case_id: int, action: str, note: str, page: str) -> str:
    key = re.search(rf'name="idempotency_key" value="({action}-\w+)"', page)
    assert key is not None
    resp = sup.post(
        f"/pay/supervisor/cases/{case_id}/{action}-payment",
        data={"csrf_token": csrf_of(page), "note": note, "idempotency_key": key.group(1)},
    )
    assert resp.status_code == 302, resp.text
    return sup.get(f"/pay/supervisor/cases/{case_id}").text


def test_a_supervisor_releases_a_held_payment_from_its_case_once(
    client: FlaskClient,
    auth: dict[str, str],
    ctx: Context,
    signed_in: Callable[..., FlaskClient],
) -> None:
    fraud_rules.save_rules(ctx, HOLD_ALL, actor="admin", note="", based_on=0)
    case_id, payment_id = _held_case(client, auth, ctx)
    sup = signed_in("supervisor")
    page = sup.get(f"/pay/supervisor/cases/{case_id}").text
    assert 'id="release-payment-form"' in page and 'id="decline-payment-form"' in page

    after = _post(sup, case_id, "release", "", page)
    assert "Not done" in after  # a note is required
    after = _post(sup, case_id, "release", "spoke to the customer", page)
    assert "Payment released" in after
    assert 'id="release-payment-form"' not in after
    # the same drawn form posted again: the same decision, nothing twice
    again = _post(sup, case_id, "release", "spoke to the customer", page)
    assert "Payment released" in again
    with ctx.db.transaction() as s:
        receipts = s.scalar(
            select(func.count()).select_from(Receipt).where(Receipt.payment_id == payment_id)
        )
        case = s.get(Case, case_id)
        assert case is not None
        assert case.resolution_code == "released"
    assert receipts == 1
    view = client.get(f"/pay/api/v1/payments/{payment_id}", headers=auth).get_json()
    assert view["status"] == "submitted_for_settlement"


def test_a_supervisor_declines_a_held_payment_from_its_case(
    client: FlaskClient,
    auth: dict[str, str],
    ctx: Context,
    signed_in: Callable[..., FlaskClient],
) -> None:
    fraud_rules.save_rules(ctx, HOLD_ALL, actor="admin", note="", based_on=0)
    case_id, payment_id = _held_case(client, auth, ctx)
    sup = signed_in("supervisor")
    page = sup.get(f"/pay/supervisor/cases/{case_id}").text

    after = _post(sup, case_id, "decline", "name and card do not match", page)

    assert "Payment declined; it is now declined" in after
    view = client.get(f"/pay/api/v1/payments/{payment_id}", headers=auth).get_json()
    assert view["status"] == "declined"
    assert view.get("receipt_number") is None
