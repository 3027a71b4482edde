"""The dashboard as supervisors use it: who may open it, figures that agree with the
ledger and the payment events after real payments, a decline and a void, the date
range and currency filter with clear refusals, CSV exports safe for spreadsheets, the
live nudge, and no card number anywhere it shows."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crm_pay.persistence.models import LedgerEntryRow, PaymentEventRow
from crm_pay.services.access import create_api_key
from crm_pay.services.context import Context
from paytest import create_link, live_socket, login, paid, pay, refund
from vault.pan import contains_pan

DECLINE_NONCE = "fake-processor-declined-visa-nonce"
PAGE = "/pay/dashboard/"
FIGURES = "/pay/dashboard/figures.json"


def _seed(app: Flask, supervisor: dict[str, str]) -> dict[str, Any]:
    """Three payments taken, one declined, one voided, through the API and pay page."""
    api = app.test_client()
    taken = [paid(api, supervisor, amount) for amount in ("60.00", "25.50", "14.50")]
    _, declined = create_link(api, supervisor, amount="9.99")
    assert pay(api, declined["pay_url"], nonce=DECLINE_NONCE).status_code in (200, 402, 422)
    assert refund(api, supervisor, taken[2]["id"]).status_code == 201  # a void, in full
    return {"taken": taken, "declined": declined}


def _minor(text: str) -> int:
    units, _, cents = text.partition(".")
    return int(units) * 100 + int(cents or 0)


def test_only_supervisors_and_admins_open_it(
    client: FlaskClient, signed_in: Callable[[str], FlaskClient]
) -> None:
    assert client.get(PAGE).status_code == 302  # sign in first
    assert client.get(FIGURES, headers={"Accept": "application/json"}).status_code == 401
    agent = signed_in("agent")
    refused = agent.get(PAGE)
    assert refused.status_code == 403
    assert "for supervisors and admins" in refused.text
    assert agent.get(FIGURES).status_code == 403
    assert agent.get("/pay/dashboard/outcomes.csv").status_code == 403
    for who in ("supervisor", "admin"):
        page = signed_in(who).get(PAGE)
        assert page.status_code == 200
        assert 'id="chart-outcomes"' in page.text
    assert 'id="dashboard-link"' in signed_in("supervisor").get("/pay/agent/").text
    assert 'id="dashboard-link"' not in agent.get("/pay/agent/").text


def test_signing_in_from_the_dashboard_returns_to_it(
    client: FlaskClient, users: dict[str, int]
) -> None:
    first = client.get(PAGE + "?start=2026-01-01")
    assert first.status_code == 302 and "next=" in first.location
    resp = login(client, "supervisor@example.com", next_url=PAGE + "?start=2026-01-01")
    assert resp.status_code == 302
    assert resp.location.endswith(PAGE + "?start=2026-01-01")


def test_figures_agree_with_the_ledger_and_events(
    app: Flask, ctx: Context, supervisor: dict[str, str], signed_in: Callable[[str], FlaskClient]
) -> None:
    _seed(app, supervisor)
    with ctx.db.transaction() as s:
        ledger = s.scalars(select(LedgerEntryRow).where(LedgerEntryRow.kind == "payment")).all()
        events = s.scalars(select(PaymentEventRow)).all()
        sales = [e for e in events if e.kind == "sale_succeeded"]
        voids = [e for e in events if e.kind in ("void_succeeded", "refund_succeeded")]
        declines = [e for e in events if e.kind == "sale_declined"]
        # the ledger books each approved sale once; a void takes it off again
        booked = {e.payment_id for e in ledger}
    figures = signed_in("supervisor").get(FIGURES).get_json()
    panels = figures["panels"]
    assert figures["period"]["currency"] == "USD"

    outcomes = panels["outcomes"]["summary"]
    assert len(booked) == len(sales) == 3
    assert outcomes["succeeded"] == len(sales) - len(voids) == 2
    assert outcomes["declined_or_failed"] == len(declines) == 1
    assert outcomes["success_rate"] == round(100 * 2 / 3, 1)
    assert _minor(outcomes["succeeded_amount"]) == sum(
        e.amount_minor for e in sales if e.payment_id not in {v.payment_id for v in voids}
    )
    refunds = panels["refunds"]["summary"]
    assert refunds["refund_rate"] == round(100 * len(voids) / len(sales), 1)
    assert refunds["refund_value_rate"] == round(
        100 * sum(v.amount_minor for v in voids) / sum(e.amount_minor for e in sales), 1
    )
    declined = panels["declines"]["rows"]
    assert [(r[0], r[2]) for r in declined] == [("issuer_declined", 1)]
    assert declined[0][1] == "The card issuer declined the payment."
    agents = panels["agents"]["rows"]
    assert [r[0] for r in agents] == ["sup (API key)"] and agents[0][1] == 4
    assert {r[0]: r[1] for r in panels["channels"]["rows"]} == {"link": 4}


def test_a_bad_range_is_refused_clearly_and_the_page_still_shows(
    signed_in: Callable[[str], FlaskClient],
) -> None:
    boss = signed_in("supervisor")
    page = boss.get(PAGE + "?start=31/01/2026&end=2026-02-01")
    assert page.status_code == 422
    assert "write it as YYYY-MM-DD" in page.text and 'id="chart-outcomes"' in page.text
    answers = {
        "?start=2026-02-10&end=2026-02-01": "before it starts",
        "?start=2024-01-01&end=2026-02-01": "at most 366 days",
        "?currency=DOGE": "not supported",
    }
    for query, words in answers.items():
        resp = boss.get(FIGURES + query)
        assert resp.status_code == 422, query
        assert words in resp.get_json()["error"]["message"], query
    assert boss.get("/pay/dashboard/outcomes.csv?end=never").status_code == 422
    missing = boss.get("/pay/dashboard/nothing.csv")
    assert missing.status_code == 404 and "the panels are outcomes" in missing.text


def test_the_range_and_currency_choose_the_figures(
    app: Flask, supervisor: dict[str, str], signed_in: Callable[[str], FlaskClient]
) -> None:
    _seed(app, supervisor)
    boss = signed_in("supervisor")
    today = boss.get(FIGURES).get_json()
    assert today["panels"]["outcomes"]["summary"]["payments"] == 4
    past = boss.get(FIGURES + "?start=2020-01-01&end=2020-01-31").get_json()
    assert past["period"] == {"start": "2020-01-01", "end": "2020-01-31", "currency": "USD"}
    assert past["panels"]["outcomes"]["summary"]["payments"] == 0
    assert len(past["panels"]["daily"]["rows"]) == 31
    euros = boss.get(FIGURES + "?currency=eur").get_json()
    assert euros["period"]["currency"] == "EUR"
    assert euros["panels"]["outcomes"]["summary"]["payments"] == 0
    assert euros["panels"]["outcomes"]["columns"][2] == "amount (EUR)"


def test_every_panel_downloads_as_csv(
    app: Flask, supervisor: dict[str, str], signed_in: Callable[[str], FlaskClient]
) -> None:
    _seed(app, supervisor)
    boss = signed_in("supervisor")
    figures = boss.get(FIGURES).get_json()
    for name, panel in figures["panels"].items():
        resp = boss.get(f"/pay/dashboard/{name}.csv")
        assert resp.status_code == 200, name
        assert resp.mimetype == "text/csv"
        assert f'filename="dashboard-{name}-' in resp.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(resp.text)))
        assert rows[0] == panel["columns"]
        assert len(rows) == 1 + len(panel["rows"])


def test_csv_cells_are_never_formulas(
    app: Flask, ctx: Context, signed_in: Callable[[str], FlaskClient]
) -> None:
    api = app.test_client()
    for name in ("=HYPERLINK(evil)", "+1+2", "-3", "@SUM(A1)"):
        key = create_api_key(ctx, name=name, role="supervisor")
        paid(api, {"Authorization": f"Bearer {key}"}, "5.00")
    text = signed_in("supervisor").get("/pay/dashboard/agents.csv").text
    agents = [row[0] for row in csv.reader(io.StringIO(text))][1:]
    assert sorted(agents) == sorted(
        ["'=HYPERLINK(evil) (API key)", "'+1+2 (API key)", "'-3 (API key)", "'@SUM(A1) (API key)"]
    )


def test_no_card_number_reaches_the_page_json_or_csv(
    app: Flask, supervisor: dict[str, str], signed_in: Callable[[str], FlaskClient]
) -> None:
    api = app.test_client()
    _, created = create_link(
        api, supervisor, amount="7.00", description="card 4111 1111 1111 1111 read out"
    )
    if created.get("pay_url"):
        pay(api, created["pay_url"])
    boss = signed_in("supervisor")
    figures = boss.get(FIGURES)
    assert not contains_pan(boss.get(PAGE).text)
    assert not contains_pan(figures.text)
    for name in figures.get_json()["panels"]:
        assert not contains_pan(boss.get(f"/pay/dashboard/{name}.csv").text), name


def test_the_live_nudge_reaches_supervisors_only_and_carries_a_time_only(
    app: Flask, supervisor: dict[str, str], signed_in: Callable[[str], FlaskClient]
) -> None:
    boss = live_socket(signed_in("supervisor"))
    agent = live_socket(signed_in("agent"))
    assert boss.emit("watch_dashboard", {}, namespace="/live", callback=True)["ok"] is True
    refused = agent.emit("watch_dashboard", {}, namespace="/live", callback=True)
    assert refused == {"ok": False, "error": "not allowed"}

    paid(app.test_client(), supervisor, "12.00")

    nudges = [m for m in boss.get_received("/live") if m["name"] == "dashboard_changed"]
    assert nudges, "the supervisor's dashboard was not told"
    for frame in nudges:
        assert list(frame["args"][0]) == ["at"]
        assert not contains_pan(str(frame["args"]))
    assert not [m for m in agent.get_received("/live") if m["name"] == "dashboard_changed"]
    boss.disconnect(namespace="/live")
    agent.disconnect(namespace="/live")
