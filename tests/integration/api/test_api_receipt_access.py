"""Receipts through the API follow the console's rule: an agent key sees the receipts
of payments it created; supervisor and admin keys see any. Another key's receipt is a
404 word for word like a number that does not exist (numbers are sequential)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm_pay.persistence.models import Message
from crm_pay.services.access import create_api_key
from crm_pay.services.context import Context
from paytest import paid

API = "/pay/api/v1"


@pytest.fixture
def other_agent(ctx: Context) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(ctx, name='other', role='agent')}"}


@pytest.fixture
def number(client: FlaskClient, auth: dict[str, str]) -> str:
    payment = paid(client, auth, "25.00")
    assert payment["receipt_number"]
    return str(payment["receipt_number"])


def _messages(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(Message)) or 0)


def test_the_creating_key_reads_its_receipt_and_pdf(
    client: FlaskClient, auth: dict[str, str], number: str
) -> None:
    body = client.get(f"{API}/receipts/{number}", headers=auth)
    assert body.status_code == 200 and body.get_json()["number"] == number
    pdf = client.get(f"{API}/receipts/{number}.pdf", headers=auth)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


@pytest.mark.parametrize("suffix", ["", ".pdf"])
def test_another_agent_key_gets_the_404_of_a_missing_number(
    client: FlaskClient, other_agent: dict[str, str], number: str, suffix: str
) -> None:
    theirs = client.get(f"{API}/receipts/{number}{suffix}", headers=other_agent)
    missing = client.get(f"{API}/receipts/R-2099-999999{suffix}", headers=other_agent)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json()["error"]["code"] == missing.get_json()["error"]["code"] == "not_found"
    assert theirs.get_json()["error"]["message"] == f"no receipt {number!r}"
    assert missing.get_json()["error"]["message"] == "no receipt 'R-2099-999999'"


def test_another_agent_key_cannot_resend_it_to_an_address_of_its_choice(
    client: FlaskClient,
    ctx: Context,
    auth: dict[str, str],
    other_agent: dict[str, str],
    number: str,
) -> None:
    before = _messages(ctx)
    resend = client.post(
        f"{API}/receipts/{number}/resend", json={"to": "thief@example.net"}, headers=other_agent
    )
    assert resend.status_code == 404
    assert resend.get_json()["error"]["code"] == "not_found"
    assert _messages(ctx) == before  # nothing queued
    mine = client.post(f"{API}/receipts/{number}/resend", json={}, headers=auth)
    assert mine.status_code == 202, mine.get_json()


def test_supervisor_keys_read_any_receipt(
    client: FlaskClient, supervisor: dict[str, str], number: str
) -> None:
    assert client.get(f"{API}/receipts/{number}", headers=supervisor).status_code == 200
    pdf = client.get(f"{API}/receipts/{number}.pdf", headers=supervisor)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_without_a_key_nothing_is_said_about_the_receipt(client: FlaskClient, number: str) -> None:
    resp = client.get(f"{API}/receipts/{number}")
    assert resp.status_code == 401
    assert number not in resp.get_data(as_text=True)
