"""The supervisor console's dispute panel: the list with reply-by dates (overdue marked),
a dispute's page to send a text, upload a document, withdraw it, accept or submit with a
ticked confirmation; clear refusals that lose nothing typed, and agents kept out."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from datetime import timedelta
from io import BytesIO
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import Dispute, DisputeEvidence, LedgerEntryRow
from crm_pay.services.context import Context
from paytest import csrf_of, paid

PAGES = "/pay/supervisor/disputes"
PDF = b"%PDF-1.4\n% proof of delivery\n"
TEST_PAN = "4111111111111111"  # Braintree's published Visa test number


def opened(client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context) -> int:
    payment = paid(client, auth)
    psp_id = sandbox.open_dispute(payment["psp_reference"])
    form = sandbox.webhook_form("dispute_opened", psp_id)
    assert client.post("/pay/webhooks/braintree", data=form).get_json()["status"] == "processed"
    with ctx.db.transaction() as s:
        return int(s.scalars(select(Dispute.id).where(Dispute.psp_dispute_id == psp_id)).one())


def page_form(sup: FlaskClient, dispute_id: int) -> dict[str, str]:
    page = sup.get(f"{PAGES}/{dispute_id}").text
    key = re.search(r'name="idempotency_key" value="([^"]+)-accept"', page)
    assert key, "the page offers no accept form"
    return {"csrf_token": csrf_of(page), "key": key.group(1)}


def notices(sup: FlaskClient, resp: Any) -> str:
    assert resp.status_code == 302, resp.text
    page = sup.get(resp.location).text
    found = re.findall(r'<p class="flash [a-z]+" role="status">([^<]*)</p>', page)
    return html_lib.unescape(" ".join(found))


def chargebacks(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        stmt = select(func.count()).select_from(LedgerEntryRow)
        return int(s.scalar(stmt.where(LedgerEntryRow.kind == "chargeback")) or 0)


def test_the_list_shows_reply_by_dates_and_marks_overdue_disputes(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    signed_in: Callable[..., FlaskClient],
) -> None:
    dispute_id = opened(client, auth, sandbox, ctx)
    sup = signed_in("supervisor")
    page = sup.get(f"{PAGES}/").text
    row = re.search(rf'<tr data-dispute="{dispute_id}"[^>]*>.*?</tr>', page, re.S)
    assert row and "7 days left" in row.group(0) and "overdue" not in row.group(0)
    assert 'id="disputes-link"' in page  # in the console's top bar
    assert sup.get(f"{PAGES}/999999").status_code == 404
    with ctx.db.transaction() as s:  # its reply-by date passed yesterday
        s.get(Dispute, dispute_id).reply_by = ctx.now().date() - timedelta(days=1)  # type: ignore[union-attr]
    page = sup.get(f"{PAGES}/").text
    row = re.search(rf'<tr data-dispute="{dispute_id}"[^>]*>.*?</tr>', page, re.S)
    assert row and 'class="overdue"' in row.group(0) and "badge overdue" in row.group(0)
    detail = sup.get(f"{PAGES}/{dispute_id}").text
    assert 'id="too-late"' in detail and 'id="text-form"' not in detail
    assert 'id="accept-form"' not in detail


def test_a_supervisor_sends_a_text_and_a_document_withdraws_it_and_submits(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    signed_in: Callable[..., FlaskClient],
) -> None:
    dispute_id = opened(client, auth, sandbox, ctx)
    sup = signed_in("supervisor")
    form = page_form(sup, dispute_id)
    resp = sup.post(
        f"{PAGES}/{dispute_id}/text",
        data={
            "csrf_token": form["csrf_token"],
            "text": "Tracking 1Z999AA10123456784",
            "category": "",
        },
    )
    assert "Text evidence sent" in notices(sup, resp)
    resp = sup.post(
        f"{PAGES}/{dispute_id}/file",
        data={
            "csrf_token": form["csrf_token"],
            "file": (BytesIO(PDF), "pod.pdf", "application/pdf"),
        },
        content_type="multipart/form-data",
    )
    assert "pod.pdf uploaded" in notices(sup, resp)
    with ctx.db.transaction() as s:
        rows = s.scalars(select(DisputeEvidence).order_by(DisputeEvidence.id)).all()
        assert [r.kind for r in rows] == ["text", "file"]
        file_id = rows[1].id
    resp = sup.post(
        f"{PAGES}/{dispute_id}/evidence/{file_id}/remove", data={"csrf_token": form["csrf_token"]}
    )
    assert "withdrawn" in notices(sup, resp)
    page = sup.get(f"{PAGES}/{dispute_id}").text
    assert re.search(rf'data-evidence="{file_id}"[^>]*class="removed"', page)

    # not ticked: nothing sent
    resp = sup.post(
        f"{PAGES}/{dispute_id}/finalize",
        data={"csrf_token": form["csrf_token"], "idempotency_key": form["key"] + "-finalize"},
    )
    assert "Tick the box" in notices(sup, resp)
    with ctx.db.transaction() as s:
        assert s.scalars(select(Dispute.status)).one() == "open"
    data = {
        "csrf_token": form["csrf_token"],
        "idempotency_key": form["key"] + "-finalize",
        "confirm": "yes",
    }
    assert "Evidence submitted" in notices(
        sup, sup.post(f"{PAGES}/{dispute_id}/finalize", data=data)
    )
    # the same form sent again (a double click): the first answer, nothing more
    assert "Evidence submitted" in notices(
        sup, sup.post(f"{PAGES}/{dispute_id}/finalize", data=data)
    )
    page = sup.get(f"{PAGES}/{dispute_id}").text
    assert 'id="answered"' in page and 'id="text-form"' not in page
    found = sandbox.braintree_gateway().dispute.find(_psp_id(ctx, dispute_id))
    assert found.status == "disputed"


def _psp_id(ctx: Context, dispute_id: int) -> str:
    with ctx.db.transaction() as s:
        return str(s.scalars(select(Dispute.psp_dispute_id).where(Dispute.id == dispute_id)).one())


def test_accepting_needs_the_tick_and_books_one_chargeback(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    signed_in: Callable[..., FlaskClient],
) -> None:
    dispute_id = opened(client, auth, sandbox, ctx)
    sup = signed_in("supervisor")
    form = page_form(sup, dispute_id)
    data = {"csrf_token": form["csrf_token"], "idempotency_key": form["key"] + "-accept"}
    assert "Tick the box" in notices(sup, sup.post(f"{PAGES}/{dispute_id}/accept", data=data))
    assert chargebacks(ctx) == 0
    data["confirm"] = "yes"
    said = notices(sup, sup.post(f"{PAGES}/{dispute_id}/accept", data=data))
    assert "Dispute accepted: 60.00 USD stays with the customer" in said
    notices(sup, sup.post(f"{PAGES}/{dispute_id}/accept", data=data))  # sent twice
    assert chargebacks(ctx) == 1


def test_refusals_are_clear_keep_what_was_typed_and_never_show_a_card_number(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    signed_in: Callable[..., FlaskClient],
) -> None:
    dispute_id = opened(client, auth, sandbox, ctx)
    sup = signed_in("supervisor")
    token = page_form(sup, dispute_id)["csrf_token"]
    resp = sup.post(
        f"{PAGES}/{dispute_id}/text",
        data={"csrf_token": token, "text": f"paid with {TEST_PAN}"},
    )
    assert resp.status_code == 422
    assert "looks like a card number" in html_lib.unescape(resp.text)
    assert TEST_PAN not in resp.text
    long_text = "Delivered and signed. " * 200  # 4,400 characters: too long, kept on the page
    resp = sup.post(f"{PAGES}/{dispute_id}/text", data={"csrf_token": token, "text": long_text})
    assert resp.status_code == 422 and "keep it to 4000" in resp.text
    assert html_lib.escape(long_text.strip()[:100]) in resp.text
    big = b"%PDF-1.4\n" + b"0" * (4 * 1024 * 1024)
    resp = sup.post(
        f"{PAGES}/{dispute_id}/file",
        data=_multipart(token, "scan.pdf", "application/pdf", big),
        content_type=f"multipart/form-data; boundary={_BOUNDARY}",
    )
    assert resp.status_code == 422 and "the limit is 4 MB" in resp.text
    resp = sup.post(
        f"{PAGES}/{dispute_id}/file",
        data={"csrf_token": token, "file": (BytesIO(b"GIF89a...."), "cat.gif", "image/gif")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422 and "PDF, PNG or JPG" in resp.text
    with ctx.db.transaction() as s:
        assert s.scalars(select(DisputeEvidence)).all() == []
    assert sandbox.braintree_gateway().dispute.find(_psp_id(ctx, dispute_id)).evidence == []


_BOUNDARY = "crm-pay-test-boundary"


def _multipart(token: str, name: str, kind: str, content: bytes) -> bytes:
    """A form body built in memory: the test client spools one this large to a temporary
    file it never closes."""
    head = (
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {kind}\r\n\r\n"
    )
    return head.encode() + content + f"\r\n--{_BOUNDARY}--\r\n".encode()


def test_agents_cannot_open_the_dispute_pages(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    agent: FlaskClient,
) -> None:
    dispute_id = opened(client, auth, sandbox, ctx)
    assert agent.get(f"{PAGES}/").status_code == 403
    assert agent.get(f"{PAGES}/{dispute_id}").status_code == 403
    assert 'id="disputes-link"' not in agent.get("/pay/agent/").text
