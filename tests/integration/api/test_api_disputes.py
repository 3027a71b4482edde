"""The disputes API (supervisor keys) through the real braintree SDK against the
sandbox: list with reply-by dates, send evidence (text, document), withdraw it, accept or
contest; every bad input refused in plain words with nothing sent, kept or booked."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from io import BytesIO
from typing import Any

import braintree
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import (
    AuditEntry,
    Case,
    Dispute,
    DisputeEvidence,
    LedgerEntryRow,
    OutboxMessage,
)
from crm_pay.services.context import Context
from paytest import SANDBOX, balance, paid

API = "/pay/api/v1"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% signed delivery note\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
# One of Braintree's published test card numbers (never a real one).
TEST_PAN = "4111111111111111"


@pytest.fixture
def sdk(sandbox: SandboxServer) -> braintree.BraintreeGateway:
    return sandbox.braintree_gateway()


def opened(client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer) -> dict[str, Any]:
    """A paid payment with a chargeback opened at the sandbox and its notice applied."""
    payment = paid(client, auth)
    psp_id = sandbox.open_dispute(payment["psp_reference"])
    resp = client.post(
        "/pay/webhooks/braintree", data=sandbox.webhook_form("dispute_opened", psp_id)
    )
    assert resp.get_json()["status"] == "processed"
    return {"payment": payment, "psp_id": psp_id}


def our_id(client: FlaskClient, supervisor: dict[str, str], psp_id: str) -> int:
    found = client.get(f"{API}/disputes", headers=supervisor).get_json()["disputes"]
    return next(d["id"] for d in found if d["psp_dispute_id"] == psp_id)


def key(headers: dict[str, str], value: str | None = None) -> dict[str, str]:
    return {**headers, "Idempotency-Key": value or uuid.uuid4().hex}


def chargebacks(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        stmt = select(func.count()).select_from(LedgerEntryRow)
        return int(s.scalar(stmt.where(LedgerEntryRow.kind == "chargeback")) or 0)


def test_supervisor_sends_text_and_a_document_withdraws_one_and_contests(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    sdk: braintree.BraintreeGateway,
    ctx: Context,
) -> None:
    found = opened(client, auth, sandbox)
    psp_id = found["psp_id"]
    listed = client.get(f"{API}/disputes?status=open", headers=supervisor).get_json()["disputes"]
    mine = next(d for d in listed if d["psp_dispute_id"] == psp_id)
    assert mine["days_left"] == 7 and mine["overdue"] is False and mine["answerable"] is True
    assert mine["reply_by"] == sdk.dispute.find(psp_id).reply_by_date.isoformat()
    dispute_id = mine["id"]

    resp = client.post(
        f"{API}/disputes/{dispute_id}/evidence",
        json={"text": "Delivered 2026-11-02, signed by J. Doe", "category": "GENERAL"},
        headers=supervisor,
    )
    assert resp.status_code == 201, resp.get_json()
    resp = client.post(
        f"{API}/disputes/{dispute_id}/evidence",
        data={"file": (BytesIO(PDF), "delivery-note.pdf", "application/pdf")},
        headers=supervisor,
        content_type="multipart/form-data",
    )
    assert resp.status_code == 201, resp.get_json()
    resp = client.post(
        f"{API}/disputes/{dispute_id}/evidence",
        data={"file": (BytesIO(PNG), "signature.png", "image/png")},
        headers=supervisor,
        content_type="multipart/form-data",
    )
    view = resp.get_json()
    text, pdf, png = view["evidence"]
    assert text["kind"] == "text" and text["text"].startswith("Delivered")
    assert (pdf["name"], pdf["content_type"], pdf["size"]) == (
        "delivery-note.pdf",
        "application/pdf",
        len(PDF),
    )
    # What Braintree holds: the three pieces, the PDF under its own upload
    at_psp = sdk.dispute.find(psp_id)
    assert {e.id for e in at_psp.evidence} == {text["psp_id"], pdf["psp_id"], png["psp_id"]}
    assert next(e for e in at_psp.evidence if e.id == text["psp_id"]).comment.startswith("Deliv")

    resp = client.delete(f"{API}/disputes/{dispute_id}/evidence/{png['id']}", headers=supervisor)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["evidence"][2]["removed_at"]
    assert {e.id for e in sdk.dispute.find(psp_id).evidence} == {text["psp_id"], pdf["psp_id"]}

    resp = client.post(f"{API}/disputes/{dispute_id}/finalize", headers=supervisor)
    assert (
        resp.status_code == 400 and resp.get_json()["error"]["code"] == "idempotency_key_required"
    )
    headers = key(supervisor)
    resp = client.post(f"{API}/disputes/{dispute_id}/finalize", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "disputed" and resp.get_json()["finalized_at"]
    again = client.post(f"{API}/disputes/{dispute_id}/finalize", headers=headers)
    assert again.status_code == 200 and again.get_json()["status"] == "disputed"  # replayed
    assert sdk.dispute.find(psp_id).status == braintree.Dispute.Status.Disputed

    # no evidence after submitting: refused here, nothing reaches Braintree
    late = client.post(
        f"{API}/disputes/{dispute_id}/evidence", json={"text": "one more"}, headers=supervisor
    )
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "dispute_not_open"
    assert len(sdk.dispute.find(psp_id).evidence) == 2
    with ctx.db.transaction() as s:
        case = s.scalars(select(Case).where(Case.subject == f"dispute:{psp_id}")).one()
        assert (case.status, case.resolution_code) == ("resolved", "evidence_submitted")
        actions = s.scalars(select(AuditEntry.action)).all()
        assert all(
            "signed delivery note" not in repr(a.data) for a in s.scalars(select(AuditEntry))
        )
    for action in ("text_evidence", "file_evidence", "remove_evidence", "finalize"):
        assert f"dispute.{action}" in actions
    assert chargebacks(ctx) == 0

    # the issuer sides with the merchant: nothing is ever booked
    sandbox.resolve_dispute(psp_id, "won")
    form = sandbox.webhook_form("dispute_won", psp_id)
    assert client.post("/pay/webhooks/braintree", data=form).get_json()["status"] == "processed"
    shown = client.get(f"{API}/disputes/{dispute_id}", headers=supervisor).get_json()
    assert shown["status"] == "won" and shown["charged_back"] is False
    assert chargebacks(ctx) == 0


def test_accepting_books_the_chargeback_once_and_a_retry_changes_nothing(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    sdk: braintree.BraintreeGateway,
    ctx: Context,
) -> None:
    before = balance(client, auth)
    found = opened(client, auth, sandbox)
    dispute_id = our_id(client, supervisor, found["psp_id"])
    headers = key(supervisor)
    first = client.post(f"{API}/disputes/{dispute_id}/accept", headers=headers)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["status"] == "accepted" and first.get_json()["charged_back"] is True
    again = client.post(f"{API}/disputes/{dispute_id}/accept", headers=headers)
    assert again.status_code == 200 and again.get_json()["status"] == "accepted"
    other_key = client.post(f"{API}/disputes/{dispute_id}/accept", headers=key(supervisor))
    assert other_key.status_code == 409
    assert other_key.get_json()["error"]["code"] == "dispute_not_open"
    same_key_other_action = client.post(f"{API}/disputes/{dispute_id}/finalize", headers=headers)
    assert same_key_other_action.status_code == 409  # another scope: simply not open
    assert chargebacks(ctx) == 1
    assert balance(client, auth) == before  # the customer owes the 60.00 again
    assert sdk.dispute.find(found["psp_id"]).status == braintree.Dispute.Status.Accepted
    # Braintree's own dispute_accepted notice follows: nothing more is booked
    form = sandbox.webhook_form("dispute_accepted", found["psp_id"])
    assert client.post("/pay/webhooks/braintree", data=form).get_json()["status"] == "processed"
    assert chargebacks(ctx) == 1
    with ctx.db.transaction() as s:
        case = s.scalars(select(Case).where(Case.subject == f"dispute:{found['psp_id']}")).one()
        assert (case.status, case.resolution_code) == ("resolved", "dispute_accepted")
        assert case.resolved_by and case.resolved_by.startswith("api_key:")
        notes = s.scalars(
            select(OutboxMessage.dedupe_key).where(OutboxMessage.topic == "crm.timeline_note")
        ).all()
        assert f"crm.note:dispute:{found['psp_id']}:accepted" in notes


def test_a_contested_dispute_that_is_lost_books_the_chargeback_and_reopens_its_case(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    found = opened(client, auth, sandbox)
    dispute_id = our_id(client, supervisor, found["psp_id"])
    client.post(
        f"{API}/disputes/{dispute_id}/evidence", json={"text": "Delivered"}, headers=supervisor
    )
    finalized = client.post(f"{API}/disputes/{dispute_id}/finalize", headers=key(supervisor))
    assert finalized.status_code == 200, finalized.get_json()
    sandbox.resolve_dispute(found["psp_id"], "lost")
    form = sandbox.webhook_form("dispute_lost", found["psp_id"])
    assert client.post("/pay/webhooks/braintree", data=form).get_json()["status"] == "processed"
    assert chargebacks(ctx) == 1
    shown = client.get(f"{API}/disputes/{dispute_id}", headers=supervisor).get_json()
    assert shown["status"] == "lost" and shown["charged_back"] is True
    assert shown["case_status"] == "open"  # money moved after it was resolved


def test_an_accept_whose_answer_was_lost_is_recognised_on_the_retry(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    sdk: braintree.BraintreeGateway,
    ctx: Context,
) -> None:
    found = opened(client, auth, sandbox)
    dispute_id = our_id(client, supervisor, found["psp_id"])
    assert sdk.dispute.accept(found["psp_id"]).is_success  # it went through; we never heard
    resp = client.post(f"{API}/disputes/{dispute_id}/accept", headers=key(supervisor))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "accepted"
    assert chargebacks(ctx) == 1


def test_bad_evidence_is_refused_plainly_and_nothing_is_sent_or_kept(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    sdk: braintree.BraintreeGateway,
    ctx: Context,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    found = opened(client, auth, sandbox)
    dispute_id = our_id(client, supervisor, found["psp_id"])
    url = f"{API}/disputes/{dispute_id}/evidence"

    def upload(content: bytes, name: str, kind: str) -> Any:
        return client.post(
            url,
            data={"file": (BytesIO(content), name, kind)},
            headers=supervisor,
            content_type="multipart/form-data",
        )

    cases = {
        "card number": client.post(
            url, json={"text": f"card {TEST_PAN} was used"}, headers=supervisor
        ),
        "card number, spaced": client.post(
            url, json={"text": "4111 1111 1111 1111"}, headers=supervisor
        ),
        "empty text": client.post(url, json={"text": "   "}, headers=supervisor),
        "too long": client.post(url, json={"text": "x" * 4001}, headers=supervisor),
        "unknown category": client.post(
            url, json={"text": "ok", "category": "MOOD"}, headers=supervisor
        ),
        "unknown field": client.post(url, json={"text": "ok", "pan": "1"}, headers=supervisor),
        "a program named .pdf": upload(b"MZ\x90\x00 not a pdf", "invoice.pdf", "application/pdf"),
        "a PNG that says PDF": upload(PNG, "photo.png", "application/pdf"),
        "a PDF named .png": upload(PDF, "photo.png", "image/png"),
        "empty file": upload(b"", "empty.pdf", "application/pdf"),
        "card number as file name": upload(PDF, f"{TEST_PAN}.pdf", "application/pdf"),
    }
    codes = {what: (r.status_code, r.get_json()["error"]["code"]) for what, r in cases.items()}
    assert codes == {
        "card number": (422, "card_number_in_evidence"),
        "card number, spaced": (422, "card_number_in_evidence"),
        "empty text": (422, "evidence_empty"),
        "too long": (422, "evidence_too_long"),
        "unknown category": (422, "evidence_category"),
        "unknown field": (422, "invalid_request"),
        "a program named .pdf": (422, "evidence_type"),
        "a PNG that says PDF": (422, "evidence_type"),
        "a PDF named .png": (422, "evidence_type"),
        "empty file": (422, "evidence_empty"),
        "card number as file name": (422, "card_number_in_evidence"),
    }
    assert "card number" in cases["card number"].get_json()["error"]["message"]
    assert "PDF, PNG or JPG" in cases["a program named .pdf"].get_json()["error"]["message"]
    # above the API's body limit: 413, nothing read
    big = upload(b"%PDF-" + b"0" * (ctx.config.max_body_bytes + 10), "big.pdf", "application/pdf")
    assert big.status_code == 413
    assert sdk.dispute.find(found["psp_id"]).evidence == []
    with ctx.db.transaction() as s:
        assert s.scalars(select(DisputeEvidence)).all() == []
        row = s.scalars(select(Dispute)).one()
        assert row.status == "open" and row.pending_action is None
        assert all(TEST_PAN not in repr(a.data) for a in s.scalars(select(AuditEntry)))
    assert TEST_PAN not in caplog.text and "4111 1111 1111 1111" not in caplog.text
    assert all(TEST_PAN not in r.get_data(as_text=True) for r in cases.values())


def test_answers_are_refused_after_the_reply_by_date_without_evidence_and_to_agents(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    sdk: braintree.BraintreeGateway,
    ctx: Context,
) -> None:
    found = opened(client, auth, sandbox)
    dispute_id = our_id(client, supervisor, found["psp_id"])
    agent = client.get(f"{API}/disputes", headers=auth)
    assert agent.status_code == 403
    agent = client.post(f"{API}/disputes/{dispute_id}/accept", headers=key(auth))
    assert agent.status_code == 403
    no_evidence = client.post(f"{API}/disputes/{dispute_id}/finalize", headers=key(supervisor))
    assert no_evidence.status_code == 422
    assert no_evidence.get_json()["error"]["code"] == "evidence_required"
    assert client.get(f"{API}/disputes/999999", headers=supervisor).status_code == 404
    assert client.get(f"{API}/disputes?status=nope", headers=supervisor).status_code == 422
    assert client.get(f"{API}/disputes?limit=0", headers=supervisor).status_code == 422

    now = ctx.now()
    ctx.clock = lambda: now + timedelta(days=8)  # the sandbox gives 7 days to answer
    shown = client.get(f"{API}/disputes/{dispute_id}", headers=supervisor).get_json()
    assert shown["overdue"] is True and shown["answerable"] is False and shown["days_left"] == -1
    for path, body in (("accept", None), ("finalize", None), ("evidence", {"text": "late"})):
        resp = client.post(
            f"{API}/disputes/{dispute_id}/{path}", json=body, headers=key(supervisor)
        )
        assert resp.status_code == 409, (path, resp.get_json())
        error = resp.get_json()["error"]
        assert error["code"] == "dispute_past_reply_by", path
        assert shown["reply_by"] in error["message"]
    assert sdk.dispute.find(found["psp_id"]).status == braintree.Dispute.Status.Open
    assert chargebacks(ctx) == 0


def test_the_sdks_webhook_samples_move_the_dispute_and_the_ledger(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    ctx: Context,
) -> None:
    """braintree_python webhook_testing_gateway.py: a dispute of 100.00 USD whose id and
    transaction id are the id asked for, with a reply-by date long past."""
    sdk = braintree.BraintreeGateway(
        braintree.Configuration(braintree.Environment.Development, **SANDBOX)
    )
    before = balance(client, auth)
    payment = paid(client, auth, amount="100.00")
    txn = payment["psp_reference"]

    def notify(kind: str) -> str:
        form = sdk.webhook_testing.sample_notification(kind, txn)
        return str(client.post("/pay/webhooks/braintree", data=form).get_json()["status"])

    assert notify("dispute_opened") == "processed"
    dispute_id = our_id(client, supervisor, txn)
    shown = client.get(f"{API}/disputes/{dispute_id}", headers=supervisor).get_json()
    assert shown["reply_by"] < ctx.now().date().isoformat() and shown["overdue"] is True
    late = client.post(f"{API}/disputes/{dispute_id}/accept", headers=key(supervisor))
    assert late.get_json()["error"]["code"] == "dispute_past_reply_by"

    assert notify("dispute_lost") == "processed"
    assert chargebacks(ctx) == 1 and balance(client, auth) == before
    assert (
        client.get(f"{API}/disputes/{dispute_id}", headers=supervisor).get_json()["status"]
        == "lost"
    )
    assert notify("dispute_won") == "processed"
    shown = client.get(f"{API}/disputes/{dispute_id}", headers=supervisor).get_json()
    assert shown["status"] == "won" and shown["charged_back"] is False
    assert balance(client, auth) != before  # paid again: the chargeback was reversed
