"""The payment engine's must-hold guarantees: idempotency, one charge under concurrency,
declines and failures, unknown outcomes resolved by the janitor without a second charge."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import Case, LedgerEntryRow, Payment, Receipt
from crm_pay.services.context import Context
from crm_pay.services.janitor import run_janitor
from paytest import balance, create_link, pay, token_of


def count(ctx: Context, model: Any, *where: Any) -> int:
    with ctx.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_same_idempotency_key_and_body_returns_the_same_payment_and_one_charge(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    key = uuid.uuid4().hex
    s1, first = create_link(client, auth, amount="25.00", key=key)
    assert pay(client, first["pay_url"]).status_code == 200
    s2, second = create_link(client, auth, amount="25.00", key=key)
    assert (s1, s2) == (201, 200)
    assert second["id"] == first["id"]
    assert second["pay_url"] == first["pay_url"]
    assert second["status"] == "submitted_for_settlement"
    assert count(ctx, Payment) == 1
    assert sandbox.sales_count(f"{first['id']}-1") == 1


def test_same_idempotency_key_with_another_body_is_refused(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    key = uuid.uuid4().hex
    create_link(client, auth, amount="25.00", key=key)
    status, body = create_link(client, auth, amount="26.00", key=key)
    assert status == 422
    assert body["error"]["code"] == "idempotency_key_reused"
    assert count(ctx, Payment) == 1


def test_two_concurrent_pays_of_one_link_charge_once(
    app: Flask, client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    _, payment = create_link(client, auth, amount="40.00")
    barrier = threading.Barrier(2)
    results: list[tuple[int, dict[str, Any]]] = []

    def customer() -> None:
        own = app.test_client()
        barrier.wait()
        resp = own.post(
            f"/pay/p/{token_of(payment['pay_url'])}/pay",
            data={"payment_method_nonce": "fake-valid-nonce"},
            headers={"Accept": "application/json"},
        )
        results.append((resp.status_code, resp.get_json()))

    threads = [threading.Thread(target=customer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(code for code, _ in results)
    assert statuses[0] == 200, results
    assert statuses[1] in (409, 410), results  # "being processed" or "already paid"
    total_sales = sum(sandbox.sales_count(f"{payment['id']}-{n}") for n in (1, 2))
    assert total_sales == 1
    assert count(ctx, Receipt, Receipt.payment_id == payment["id"]) == 1


def test_processor_decline_records_nothing_and_keeps_the_link_usable(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    before = balance(client, auth)
    _, payment = create_link(client, auth, amount="2001.00")
    resp = pay(client, payment["pay_url"])
    result = resp.get_json()
    assert result["status"] == "declined"
    assert "insufficient funds" in result["decline"]["message"].lower()
    assert result["decline"]["next_step"]
    assert result["attempts_left"] == 4 and result["link_state"] == "open"
    assert balance(client, auth) == before
    assert count(ctx, LedgerEntryRow, LedgerEntryRow.payment_id == payment["id"]) == 0
    assert count(ctx, Receipt) == 0
    page = client.get(f"/pay/p/{token_of(payment['pay_url'])}")
    assert page.status_code == 200 and b"Attempts left: 4" in page.data
    # The customer tries again; the same amount declines again at the sandbox, as it should.
    assert pay(client, payment["pay_url"]).get_json()["attempts_left"] == 3


def test_gateway_failure_3000_is_failed_not_declined_and_takes_nothing(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    before = balance(client, auth)
    _, payment = create_link(client, auth, amount="3000.00")
    result = pay(client, payment["pay_url"]).get_json()
    assert result["status"] == "failed"
    assert result["decline"]["message"]
    assert balance(client, auth) == before
    assert count(ctx, Receipt) == 0


def test_timeout_leaves_payment_unknown_then_janitor_resolves_without_a_second_charge(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    _, payment = create_link(client, auth, amount="60.00", allocations={"INV-1004": "60.00"})
    sandbox.fail_next("timeout")  # the sale happens, the answer arrives after the SDK gave up
    result = pay(client, payment["pay_url"]).get_json()
    assert result["status"] == "unknown"
    assert result["receipt_number"] is None
    # No new charge for the same invoice while the first is in doubt.
    status, body = create_link(client, auth, amount="10.00", allocations={"INV-1004": "10.00"})
    assert status == 409 and body["error"]["code"] == "payment_in_doubt"
    # The customer cannot pay the link again either.
    again = pay(client, payment["pay_url"])
    assert again.status_code == 409
    import time

    time.sleep(2.0)  # let the late answer land at the sandbox
    report = run_janitor(ctx)
    assert report.resolved == 1
    resolved = client.get(f"/pay/api/v1/payments/{payment['id']}", headers=auth).get_json()
    assert resolved["status"] == "submitted_for_settlement"
    assert resolved["receipt_number"]
    assert sandbox.sales_count(f"{payment['id']}-1") == 1
    assert sandbox.sales_count(f"{payment['id']}-2") == 0
    assert {a["invoice"]: a["amount"] for a in resolved["allocations"]} == {"INV-1004": "60.00"}


def test_unknown_payment_is_resolved_on_read(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    _, payment = create_link(client, auth, amount="61.00")
    sandbox.fail_next("500")
    assert pay(client, payment["pay_url"]).get_json()["status"] == "unknown"
    # A 500 before the sale: the PSP has nothing; reading checks and it stays unknown.
    view = client.get(f"/pay/api/v1/payments/{payment['id']}", headers=auth).get_json()
    assert view["status"] == "unknown"
    assert sandbox.sales_count(f"{payment['id']}-1") == 0


def test_janitor_opens_a_case_while_the_psp_cannot_be_asked(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    _, payment = create_link(client, auth, amount="62.00")
    sandbox.fail_next("500")
    pay(client, payment["pay_url"])
    real = ctx.clock
    for step in range(1, 8):
        ctx.clock = lambda step=step: real() + timedelta(hours=step * 2)
        sandbox.fail_next("500")  # the PSP is down for every check
        run_janitor(ctx)
    ctx.clock = real
    with ctx.db.transaction() as s:
        kinds = set(s.scalars(select(Case.kind).where(Case.payment_id == payment["id"])))
        status = s.get(Payment, payment["id"]).status  # type: ignore[union-attr]
    assert "unknown_at_psp" in kinds  # a person is told
    assert status == "unknown"  # never concluded without the PSP's word


def test_janitor_resolution_is_pushed_to_the_watching_agent(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    _, payment = create_link(client, auth, amount="63.00")
    sandbox.fail_next("timeout")
    pay(client, payment["pay_url"])
    seen: list[tuple[str, dict]] = []
    ctx.live = lambda pid, event: seen.append((pid, event))
    import time

    time.sleep(2.0)
    run_janitor(ctx)
    statuses = [e.get("status") for pid, e in seen if pid == payment["id"]]
    assert statuses and statuses[-1] == "submitted_for_settlement"
    assert any(e.get("receipt_number") for _, e in seen)


def test_link_expiry_is_pushed_to_the_watching_agent(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _, first = create_link(client, auth, amount="64.00")
    _, second = create_link(client, auth, amount="65.00", customer="CUST-0002")
    seen: list[tuple[str, str | None]] = []
    ctx.live = lambda pid, event: seen.append((pid, event.get("status")))
    real = ctx.clock
    ctx.clock = lambda: real() + timedelta(minutes=16)
    client.get(f"/pay/p/{token_of(first['pay_url'])}")  # the customer opens it too late
    run_janitor(ctx)  # nobody opens the other one
    assert (first["id"], "expired") in seen
    assert (second["id"], "expired") in seen
