"""The demo's file senders: RFC 5322 files in a mailbox, JSON files for SMS, each
written once per message id."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from connectors.messaging import FileMailbox, FileSmsOutbox
from crm_pay.ports import EmailSender, OutgoingEmail, OutgoingSms, SmsSender
from crm_pay.testing import Clock

PDF = b"%PDF-1.4 test receipt\n%%EOF\n"


def _email(
    message_id: str = "receipt.R-2026-000001@example.com", **changes: object
) -> OutgoingEmail:
    values: dict[str, object] = {
        "message_id": message_id,
        "sender": "Demo Merchant <billing@example.com>",
        "to": "eleanor@example.com",
        "subject": "Your receipt R-2026-000001 from Demo Merchant",
        "text": "Thank you for your payment of USD 10.00.\n",
        "html": "<p>Thank you for your payment of <strong>USD 10.00</strong>.</p>",
        "attachments": (("R-2026-000001.pdf", "application/pdf", PDF),),
    }
    values.update(changes)
    return OutgoingEmail(**values)  # type: ignore[arg-type]


def _Clock() -> Clock:  # noqa: N802 - the shared fake clock, ticking a second a reading
    return Clock(datetime(2026, 3, 2, 14, 5, tzinfo=UTC), tick=1)


def test_the_mailbox_is_an_email_sender_writing_rfc5322_files(tmp_path: Path) -> None:
    box = FileMailbox(tmp_path / "mailbox", clock=_Clock())
    assert isinstance(box, EmailSender)
    box.send(_email())
    [file] = list((tmp_path / "mailbox").glob("*.eml"))
    msg = message_from_bytes(file.read_bytes(), policy=policy.default)
    assert msg["Message-ID"] == "<receipt.R-2026-000001@example.com>"
    assert msg["Subject"] == "Your receipt R-2026-000001 from Demo Merchant"
    assert msg["Date"] and msg["From"] and msg["To"] == "eleanor@example.com"
    assert msg.get_content_type() == "multipart/mixed"
    [alternative, pdf] = list(msg.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert pdf.get_filename() == "R-2026-000001.pdf"
    assert pdf.get_payload(decode=True) == PDF


def test_the_same_message_id_twice_is_recognised_and_written_once(tmp_path: Path) -> None:
    box = FileMailbox(tmp_path, clock=_Clock())
    box.send(_email())
    first = next(tmp_path.glob("*.eml")).read_bytes()
    box.send(_email(subject="a redelivery after a crash"))
    assert len(list(tmp_path.glob("*.eml"))) == 1
    assert next(tmp_path.glob("*.eml")).read_bytes() == first
    assert box.duplicates == 1
    # another process (another FileMailbox on the same folder) recognises it too
    FileMailbox(tmp_path).send(_email())
    assert len(list(tmp_path.iterdir())) == 1


def test_listing_is_newest_first_and_reading_gives_the_parts_back(tmp_path: Path) -> None:
    box = FileMailbox(tmp_path, clock=_Clock())
    box.send(_email("a@example.com", subject="first"))
    box.send(_email("b@example.com", subject="second", attachments=()))
    entries = box.list_messages()
    assert [e.subject for e in entries] == ["second", "first"]
    assert entries[1].attachments == ("R-2026-000001.pdf",)
    assert entries[1].message_id == "a@example.com"
    assert entries[1].date is not None and entries[1].date.tzinfo is not None
    found = box.read("a@example.com")
    assert found is not None
    assert found.text.startswith("Thank you for your payment")
    assert "<strong>USD 10.00</strong>" in found.html
    assert [(a.filename, a.mime_type, a.content) for a in found.attachments] == [
        ("R-2026-000001.pdf", "application/pdf", PDF)
    ]
    assert box.read("nobody@example.com") is None
    assert FileMailbox(tmp_path / "missing").list_messages() == []


def test_a_line_break_in_a_header_cannot_add_headers(tmp_path: Path) -> None:
    box = FileMailbox(tmp_path)
    box.send(_email(subject="Hello\r\nBcc: victim@example.com"))
    raw = next(tmp_path.glob("*.eml")).read_bytes()
    assert b"\nBcc:" not in raw
    assert box.list_messages()[0].subject == "Hello Bcc: victim@example.com"


def test_sms_outbox_writes_one_json_file_per_message_once(tmp_path: Path) -> None:
    outbox = FileSmsOutbox(tmp_path / "sms", clock=_Clock())
    assert isinstance(outbox, SmsSender)
    sms = OutgoingSms("paylink.sms.pay_1@example.com", "+12125550101", "Please pay USD 10.00")
    outbox.send(sms)
    outbox.send(sms)
    [file] = list((tmp_path / "sms").glob("*.json"))
    record = json.loads(file.read_text())
    assert record["to"] == "+12125550101" and record["body"] == "Please pay USD 10.00"
    assert outbox.duplicates == 1
    assert outbox.read(sms.message_id) == record
    assert outbox.list_messages() == [record]
    assert outbox.read("other") is None


def test_mime_boundaries_never_look_like_card_numbers() -> None:
    from connectors.messaging.mime import build_message
    from crm_pay.ports import OutgoingEmail
    from vault.pan import find_pans

    email = OutgoingEmail(
        message_id="r.1@x",
        sender="a@x",
        to="b@x",
        subject="s",
        text="t",
        html="<p>t</p>",
        attachments=(("r.pdf", "application/pdf", b"%PDF"),),
    )
    for _ in range(300):
        raw = build_message(email).as_string()
        assert not find_pans(raw)
