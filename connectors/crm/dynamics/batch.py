"""OData ``$batch`` bodies for Dataverse: writing them and reading the answer.

Internal to :mod:`connectors.crm.dynamics`. Each request travels in its own change set, so
each is its own transaction; with ``Prefer: odata.continue-on-error`` Dataverse runs every
change set even when an earlier one failed, and answers them in order: a successful change
set as a nested ``multipart/mixed`` part, a failed one as a single ``application/http``
part holding the error.
"""

from __future__ import annotations

import email
import email.policy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import Message

__all__ = ["BatchRequest", "PartResponse", "build_batch", "parse_batch"]

_CRLF = "\r\n"


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One request of a batch; ``url`` is absolute, ``body`` is JSON text."""

    method: str
    url: str
    body: str


@dataclass(frozen=True, slots=True)
class PartResponse:
    """One answer inside a batch response."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names


def build_batch(requests: Sequence[BatchRequest]) -> tuple[str, bytes]:
    """Return ``(content type, body)`` of a batch with one change set per request."""
    batch = f"batch_{uuid.uuid4().hex}"
    lines: list[str] = []
    for number, request in enumerate(requests, start=1):
        changeset = f"changeset_{uuid.uuid4().hex}"
        lines += [
            f"--{batch}",
            f"Content-Type: multipart/mixed; boundary={changeset}",
            "",
            f"--{changeset}",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            f"Content-ID: {number}",
            "",
            f"{request.method} {request.url} HTTP/1.1",
            "Content-Type: application/json; charset=utf-8",
            "",
            request.body,
            f"--{changeset}--",
        ]
    lines += [f"--{batch}--", ""]
    return f"multipart/mixed; boundary={batch}", _CRLF.join(lines).encode("utf-8")


def parse_batch(content_type: str, body: bytes) -> list[PartResponse]:
    """The answers of a batch response, one per change set, in order.

    Raises ``ValueError`` when the body is not a multipart batch response.
    """
    if not content_type.lower().startswith("multipart/mixed"):
        raise ValueError(f"a $batch answer must be multipart/mixed, not {content_type!r}")
    message = email.message_from_bytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body,
        policy=email.policy.compat32,
    )
    parts = message.get_payload()
    if not isinstance(parts, list):
        raise ValueError("the $batch answer holds no parts")
    answers = []
    for part in parts:
        if not isinstance(part, Message):
            raise ValueError("the $batch answer holds a part that is not a MIME part")
        if part.is_multipart():
            # One request per change set: its answer is the change set's only part.
            inner = part.get_payload()
            if not isinstance(inner, list) or not inner or not isinstance(inner[0], Message):
                raise ValueError("a change set answer holds no response")
            part = inner[0]
        answers.append(_http_response(part))
    return answers


def _http_response(part: Message) -> PartResponse:
    payload = part.get_payload(decode=True)
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    head, _, content = text.replace("\r\n", "\n").partition("\n\n")
    status_line, *header_lines = head.strip("\n").split("\n")
    pieces = status_line.split(" ", 2)
    if len(pieces) < 2 or not pieces[0].startswith("HTTP/") or not pieces[1].isdigit():
        raise ValueError(f"not an HTTP status line in the $batch answer: {status_line[:80]!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return PartResponse(int(pieces[1]), content.strip(), headers)
