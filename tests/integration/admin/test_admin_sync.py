"""Admin console: sync status, dead letters with the CRM's own message, replay one or all."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from crm_pay.persistence.models import OutboxMessage
from crm_pay.services import outbox
from crm_pay.services.context import Context
from paytest import csrf_of

CRM_ERROR = "FIELD_CUSTOM_VALIDATION_EXCEPTION: Amount__c too large"


def _dead_letters(ctx: Context, n: int, *, topic: str = "crm.upsert_payment") -> list[int]:
    ids = []
    with ctx.db.transaction() as s:
        for i in range(n):
            msg_id = outbox.enqueue_now(
                s,
                topic=topic,
                ordering_key=f"crm:CUST-000{i + 1}",
                dedupe_key=f"{topic}:test:{i}",
                payload={"payment_id": f"pay_{i}"},
                now=ctx.now(),
            )
            assert msg_id is not None
            msg = s.get(OutboxMessage, msg_id)
            assert msg is not None
            msg.status, msg.attempts, msg.last_error = "dead", 10, f"{CRM_ERROR} ({i})"
            s.flush()
            ids.append(msg.id)
    return ids


def _statuses(ctx: Context) -> dict[int, str]:
    with ctx.db.transaction() as s:
        rows = s.execute(select(OutboxMessage.id, OutboxMessage.status)).all()
        return {int(i): str(status) for i, status in rows}


def test_sync_status_lists_dead_letters_with_the_crms_message(
    admin: FlaskClient, ctx: Context
) -> None:
    ids = _dead_letters(ctx, 2)
    page = admin.get("/pay/admin/sync")
    assert page.status_code == 200
    assert '<dd id="sync-dead">2</dd>' in page.text
    for i, message_id in enumerate(ids):
        assert f'data-message="{message_id}"' in page.text
        assert f"{CRM_ERROR} ({i})" in page.text
    overview = admin.get("/pay/admin/").text
    assert '<dd id="sync-dead">2</dd>' in overview and "See the dead letters" in overview


def test_replay_one_dead_letter(admin: FlaskClient, ctx: Context) -> None:
    first, second = _dead_letters(ctx, 2)
    page = admin.get("/pay/admin/sync")
    resp = admin.post(f"/pay/admin/sync/replay/{first}", data={"csrf_token": csrf_of(page.text)})
    assert resp.status_code == 302
    after = admin.get("/pay/admin/sync").text
    assert f"Message {first} queued again" in after
    assert _statuses(ctx) == {first: "pending", second: "dead"}
    assert (
        admin.post("/pay/admin/sync/replay/99999", data={"csrf_token": csrf_of(after)}).status_code
        == 404
    )


def test_replay_all_asks_first_then_says_how_many(admin: FlaskClient, ctx: Context) -> None:
    ids = _dead_letters(ctx, 3) + _dead_letters(ctx, 1, topic="email.receipt")
    confirm = admin.get("/pay/admin/sync/replay-all")
    assert confirm.status_code == 200
    assert "4 dead letters will be queued again" in confirm.text
    assert "3 to the CRM" in confirm.text and "1 other deliveries" in confirm.text
    token = csrf_of(confirm.text)
    # Without the confirmation field nothing happens: the question is asked again.
    again = admin.post("/pay/admin/sync/replay-all", data={"csrf_token": token})
    assert again.status_code == 200 and set(_statuses(ctx).values()) == {"dead"}
    # Without the CSRF token nothing happens either.
    refused = admin.post("/pay/admin/sync/replay-all", data={"confirm": "yes"})
    assert refused.status_code == 400 and set(_statuses(ctx).values()) == {"dead"}
    done = admin.post("/pay/admin/sync/replay-all", data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 302
    page = admin.get("/pay/admin/sync").text
    assert "4 dead letters queued again" in page
    assert _statuses(ctx) == {i: "pending" for i in ids}
    assert "No dead letters" in page
    assert "no dead letters to replay" in admin.get("/pay/admin/sync/replay-all").text
