"""Dispute evidence rules: a document is known by its bytes, within Braintree's limits."""

from __future__ import annotations

from datetime import date

import pytest

from crm_pay.domain.errors import ValidationError
from crm_pay.domain.evidence import (
    MAX_EVIDENCE_BYTES,
    check_evidence_file,
    check_evidence_text,
    reply_days_left,
    sniff_document_type,
)

PDF = b"%PDF-1.7\n..."
PNG = b"\x89PNG\r\n\x1a\n...."
JPG = b"\xff\xd8\xff\xe0...."


@pytest.mark.parametrize(
    ("name", "content", "declared", "kind"),
    [
        ("a.pdf", PDF, "application/pdf", "application/pdf"),
        ("scan.PNG", PNG, "", "image/png"),
        ("photo.jpeg", JPG, "application/octet-stream", "image/jpeg"),
        ("C:\\Users\\me\\photo.jpg", JPG, "image/jpeg; charset=binary", "image/jpeg"),
    ],
)
def test_documents_are_taken_by_their_bytes(
    name: str, content: bytes, declared: str, kind: str
) -> None:
    checked = check_evidence_file(name, content, declared)
    assert checked.content_type == kind and checked.size == len(content)
    assert "\\" not in checked.name and "/" not in checked.name


@pytest.mark.parametrize(
    ("name", "content", "declared", "words"),
    [
        ("a.pdf", b"", "", "empty"),
        ("a.pdf", b"%PDF-" + b"0" * MAX_EVIDENCE_BYTES, "", "the limit is 4 MB"),
        ("a.pdf", b"MZ\x90\x00", "application/pdf", "PDF, PNG or JPG"),
        ("a.gif", b"GIF89a", "image/gif", "PDF, PNG or JPG"),
        ("a.png", PDF, "", "should end in .pdf"),
        ("a.pdf", PDF, "image/png", "says it is image/png"),
    ],
)
def test_other_files_are_refused_in_plain_words(
    name: str, content: bytes, declared: str, words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        check_evidence_file(name, content, declared)


def test_texts_are_trimmed_and_bounded() -> None:
    assert check_evidence_text("  Delivered  ") == "Delivered"
    with pytest.raises(ValidationError, match="empty"):
        check_evidence_text(" \n ")
    with pytest.raises(ValidationError, match="keep it to 4000"):
        check_evidence_text("x" * 4001)


def test_days_left_to_reply() -> None:
    today = date(2026, 12, 2)
    assert reply_days_left(date(2026, 12, 9), today) == 7
    assert reply_days_left(today, today) == 0
    assert reply_days_left(date(2026, 12, 1), today) == -1
    assert reply_days_left(None, today) is None
    assert sniff_document_type(b"plain text") is None
