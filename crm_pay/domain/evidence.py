"""Dispute evidence rules, pure: which documents a PSP takes, how large, which text.

The limits are Braintree's, the strictest PSP crm-pay answers disputes at (Braintree
docs "Document upload: create": PDF, PNG, JPG/JPEG, up to 4 MB; braintree_python
``error_codes.py`` ``DocumentUpload`` 84902 FileIsTooLarge, 84903 FileTypeIsInvalid,
84906 FileIsEmpty). A file is known by its first bytes, not by its name or the type a
browser claims: a ``.pdf`` that is not one is refused here, before the PSP is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from .errors import ValidationError

__all__ = [
    "EVIDENCE_TYPES",
    "MAX_EVIDENCE_BYTES",
    "MAX_EVIDENCE_TEXT",
    "EvidenceFile",
    "check_evidence_file",
    "check_evidence_text",
    "sniff_document_type",
    "reply_days_left",
]

#: Content types a dispute document may have, with the file name endings that go with it.
EVIDENCE_TYPES: Final = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
}
MAX_EVIDENCE_BYTES: Final = 4 * 1024 * 1024
#: Ours: Braintree refuses a text that is too long (95708) without saying how long.
MAX_EVIDENCE_TEXT: Final = 4000
_MAX_NAME: Final = 200
_SIGNATURES: Final = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
# What a browser or client may send for a file whose type it does not know.
_UNSPECIFIED: Final = frozenset({"", "application/octet-stream"})


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """A document checked for sending: a safe name, its real type and size."""

    name: str
    content_type: str
    size: int


def sniff_document_type(content: bytes) -> str | None:
    """The content type the file's first bytes say, or None when it is none we take."""
    return next((kind for magic, kind in _SIGNATURES if content.startswith(magic)), None)


def check_evidence_file(filename: str, content: bytes, declared_type: str = "") -> EvidenceFile:
    """Refuse (``ValidationError``, nothing sent) an empty, oversized or unknown file, or
    one whose name or declared type disagrees with what its bytes are."""
    name = (filename or "").strip().replace("\\", "/").rsplit("/", 1)[-1][:_MAX_NAME]
    if not content:
        raise ValidationError("the evidence file is empty; nothing was sent", code="evidence_empty")
    if len(content) > MAX_EVIDENCE_BYTES:
        raise ValidationError(
            f"the evidence file is {len(content) / 1024 / 1024:.1f} MB; the limit is 4 MB. "
            "Nothing was sent: make it smaller (fewer pages, a lower resolution)",
            code="evidence_too_large",
        )
    kind = sniff_document_type(content)
    if kind is None:
        raise ValidationError(
            "evidence files must be PDF, PNG or JPG; this one is none of them. Nothing was sent",
            code="evidence_type",
        )
    declared = (declared_type or "").split(";", 1)[0].strip().lower()
    if declared not in _UNSPECIFIED and declared != kind:
        raise ValidationError(
            f"the file says it is {declared} but its content is {kind}; nothing was sent",
            code="evidence_type",
        )
    if not name.lower().endswith(EVIDENCE_TYPES[kind]):
        raise ValidationError(
            f"the file name should end in {' or '.join(EVIDENCE_TYPES[kind])}: its content is "
            f"{kind}. Nothing was sent",
            code="evidence_type",
        )
    return EvidenceFile(name=name, content_type=kind, size=len(content))


def check_evidence_text(text: str) -> str:
    """The text as it is sent (trimmed); empty or too long is refused."""
    content = (text or "").strip()
    if not content:
        raise ValidationError("the evidence text is empty; nothing was sent", code="evidence_empty")
    if len(content) > MAX_EVIDENCE_TEXT:
        raise ValidationError(
            f"the evidence text is {len(content)} characters long; keep it to "
            f"{MAX_EVIDENCE_TEXT} (or send a document). Nothing was sent",
            code="evidence_too_long",
        )
    return content


def reply_days_left(reply_by: date | None, today: date) -> int | None:
    """Days left to answer (0: today is the last day; negative: overdue)."""
    return None if reply_by is None else (reply_by - today).days
