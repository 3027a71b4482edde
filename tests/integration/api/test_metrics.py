"""``{prefix}/metrics``: 404 unless configured, bearer token and allowed networks, the
figures read from the database, PSP latency timed at the adapter proxy, CRM failures by
connector, our own registry (never prometheus-client's global one), and no card number
or customer data in any label."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from crm_pay.config import CrmPayConfig
from crm_pay.domain.errors import ConfigurationError
from crm_pay.persistence.models import OutboxMessage, Payment, WebhookEvent
from crm_pay.services import outbox
from crm_pay.services.context import Context
from paytest import create_link, paid

TOKEN = "scrape-token-7f3a9c1e5b"
TEST_PAN = "4111111111111111"  # Braintree test Visa


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"CRM_PAY_METRICS_TOKEN": TOKEN}


def _scrape(client: FlaskClient, token: str = TOKEN) -> Any:
    return client.get("/pay/metrics", headers={"Authorization": f"Bearer {token}"})


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(text: str, name: str, **labels: str) -> float | None:
    return _samples(text).get((name, tuple(sorted(labels.items()))))


def test_a_scrape_needs_the_token_and_anything_else_looks_like_nothing_is_there(
    client: FlaskClient,
) -> None:
    assert client.get("/pay/metrics").status_code == 404
    assert _scrape(client, "wrong-token").status_code == 404
    assert client.get("/pay/metrics", headers={"Authorization": TOKEN}).status_code == 404
    resp = _scrape(client)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    assert resp.headers["Cache-Control"] == "no-store"
    assert _value(resp.text, "crm_pay_database_up") == 1


@pytest.mark.parametrize("app_settings", [{}], indirect=False)
def test_without_a_token_or_networks_the_endpoint_answers_404(client: FlaskClient) -> None:
    assert client.get("/pay/metrics").status_code == 404
    assert _scrape(client).status_code == 404


@pytest.mark.parametrize(
    "app_settings", [{"CRM_PAY_METRICS_ALLOW": "10.1.0.0/16, 192.0.2.7/32"}], indirect=False
)
def test_allowed_networks_alone_let_a_scraper_in(client: FlaskClient) -> None:
    inside = client.get("/pay/metrics", environ_base={"REMOTE_ADDR": "10.1.22.3"})
    assert inside.status_code == 200 and "crm_pay_payments" in inside.text
    assert client.get("/pay/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    outside = client.get("/pay/metrics", environ_base={"REMOTE_ADDR": "10.2.0.1"})
    assert outside.status_code == 404


@pytest.mark.parametrize(
    "app_settings",
    [{"CRM_PAY_METRICS_ALLOW": "127.0.0.1/32", "CRM_PAY_METRICS_TOKEN": TOKEN}],
    indirect=False,
)
def test_with_a_token_and_networks_both_must_match(client: FlaskClient) -> None:
    assert _scrape(client).status_code == 200  # the test client comes from 127.0.0.1
    assert client.get("/pay/metrics").status_code == 404
    far = client.get(
        "/pay/metrics",
        headers={"Authorization": f"Bearer {TOKEN}"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert far.status_code == 404


def test_a_bad_network_list_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="CRM_PAY_METRICS_ALLOW"):
        CrmPayConfig.from_mapping({"CRM_PAY_METRICS_ALLOW": "10.0.0.0/8,intranet"})


def test_payments_by_status_and_psp_latency_follow_what_happens(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    before = _scrape(client).text
    assert _value(before, "crm_pay_payments", status="submitted_for_settlement") is None
    paid(client, auth, amount="10.00")
    create_link(client, auth, amount="5.00")
    text = _scrape(client).text
    assert _value(text, "crm_pay_payments", status="submitted_for_settlement") == 1
    assert _value(text, "crm_pay_payments", status="awaiting_customer") == 1
    sales = _value(text, "crm_pay_psp_call_seconds_count", method="sale", outcome="ok")
    assert sales == 1
    total = _value(text, "crm_pay_psp_call_seconds_sum", method="sale", outcome="ok")
    assert total is not None and 0 < total < 30
    assert _value(text, "crm_pay_psp_call_seconds_bucket", method="sale", outcome="ok", le="+Inf")


def test_outbox_backlog_dead_letters_and_crm_delivery_errors(
    client: FlaskClient, ctx: Context
) -> None:
    now = ctx.now()
    with ctx.db.transaction() as s:
        ids = [
            outbox.enqueue_now(
                s,
                topic="crm.upsert_payment",
                ordering_key=f"crm:CUST-000{i}",
                dedupe_key=f"metrics-test:{i}",
                payload={"payment_id": f"pay_{i}"},
                now=now - timedelta(minutes=10 * i),
            )
            for i in range(1, 4)
        ]
        s.execute(update(OutboxMessage).where(OutboxMessage.id == ids[0]).values(attempts=2))
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == ids[2])
            .values(status="dead", attempts=10, last_error="HTTP 500")
        )
    text = _scrape(client).text
    topic = {"topic": "crm.upsert_payment"}
    assert _value(text, "crm_pay_outbox_pending", **topic) == 2
    assert _value(text, "crm_pay_outbox_retrying", **topic) == 1
    assert _value(text, "crm_pay_outbox_dead_letters", **topic) == 1
    oldest = _value(text, "crm_pay_outbox_oldest_pending_age_seconds", **topic)
    assert oldest is not None and 20 * 60 - 5 <= oldest <= 20 * 60 + 120
    crm = ctx.config.crm
    assert _value(text, "crm_pay_crm_delivery_errors", connector=crm, state="retrying") == 1
    assert _value(text, "crm_pay_crm_delivery_errors", connector=crm, state="dead") == 1


def test_janitor_backlog_and_webhook_failures(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    _, first = create_link(client, auth, amount="7.00")
    _, second = create_link(client, auth, amount="8.00")
    long_ago = ctx.now() - timedelta(seconds=ctx.settings.unknown_window_seconds + 60)
    with ctx.db.transaction() as s:
        s.execute(
            update(Payment)
            .where(Payment.id == first["id"])
            .values(status="unknown", in_doubt_since=long_ago, next_check_at=None)
        )
        s.execute(
            update(Payment)
            .where(Payment.id == second["id"])
            .values(status="processing", updated_at=ctx.now() - timedelta(minutes=5))
        )
        s.add(
            WebhookEvent(
                provider="braintree",
                received_at=ctx.now(),
                signature="bad",
                payload="x",
                status="rejected",
            )
        )
    text = _scrape(client).text
    assert _value(text, "crm_pay_janitor_backlog", status="unknown") == 1
    assert _value(text, "crm_pay_janitor_backlog", status="processing") == 1
    assert _value(text, "crm_pay_payments_in_doubt_past_window") == 1
    age = _value(text, "crm_pay_payments_in_doubt_oldest_age_seconds")
    assert age is not None and age >= ctx.settings.unknown_window_seconds
    assert _value(text, "crm_pay_webhook_failures", provider="braintree", status="rejected") == 1


def test_crm_call_failures_are_counted_by_connector(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    resp = client.get("/pay/api/v1/customers/CUST-0001", headers=auth)
    assert resp.status_code == 200
    missing = client.get("/pay/api/v1/customers/NOPE-404", headers=auth)
    assert missing.status_code == 404
    text = _scrape(client).text
    calls = {
        (labels, value)
        for (name, labels), value in _samples(text).items()
        if name == "crm_pay_crm_calls_total"
    }
    assert any(dict(labels).get("method") == "find_customer" for labels, _ in calls), calls


def test_our_metrics_never_reach_the_global_registry(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    paid(client, auth, amount="3.00")
    assert _scrape(client).status_code == 200
    names = {m.name for m in REGISTRY.collect()}
    assert not {n for n in names if n.startswith("crm_pay")}, names


def test_no_card_number_or_customer_data_in_any_metric(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    """Card digits typed into a description or searched as a customer never become a
    label: labels are statuses, topics, methods and connector names."""
    paid(client, auth, amount="4.00", description="customer said 4111 1111 1111 1111")
    client.get(f"/pay/api/v1/customers/{TEST_PAN}", headers=auth)
    create_link(client, auth, amount="2.00", customer=TEST_PAN)
    text = _scrape(client).text
    assert TEST_PAN not in text.replace(" ", "").replace("-", "")
    for _name, labels in _samples(text):
        for key, value in labels:
            assert "CUST-" not in value and "@" not in value, (key, value)
