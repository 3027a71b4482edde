"""The PAN guard at the doors: card numbers are stopped where data enters from outside.

Every free-text field we accept or forward is checked by the PAN detector
(:mod:`vault.pan`). The exits (log records, CRM payloads, messages, error envelopes,
live frames, HTTP answers) each redact at the last moment; this module is the entrance
side, so that what we store is clean in the first place and a card number someone put
into the CRM is found once, where it came in, and reported to a person.

What each door does with a card number:

* **CRM records** (:func:`screen_customer`, :func:`screen_invoices`,
  :func:`screen_cards`): free text (names, companies, invoice line descriptions and
  SKUs, tax labels, card brands) is redacted in place; an email address or phone number
  holding one is dropped, since a redacted address reaches nobody and a mangled one
  might reach someone else; a record whose *id* holds one (an invoice number, a card
  token) is not taken in at all, because its id is what we key it by. Each hit becomes
  a :class:`CrmHit` that :func:`report_crm_hits` turns into one
  ``crm_data_card_number`` case per record and field (an admin alert). The case names
  the record and the field, never the value.
* **Idempotency keys** (:func:`idempotency_key`): refused with 400 before anything is
  stored or charged.
* **Message recipients** (:func:`recipient`): refused with 422; nothing is queued.
* **Request headers we keep** (:func:`stored_header`: a console session's User-Agent
  and address, a webhook's remote address): redacted.
* **Webhook bodies** (:func:`webhook_has_card_number`): the decoded body is scanned
  before it is stored; ``crm_pay.services.webhooks`` refuses such a notice and keeps it
  only redacted.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from crm_pay.domain.errors import ValidationError
from crm_pay.ports import CrmCustomer, CrmInvoice, StoredCard
from vault import pan

from .cases import open_case
from .context import Context

__all__ = [
    "CRM_CARD_NUMBER_CASE",
    "CrmHit",
    "screen_customer",
    "screen_invoices",
    "screen_cards",
    "report_crm_hits",
    "record_crm_hits",
    "refuse_card_number",
    "idempotency_key",
    "recipient",
    "stored_header",
    "webhook_has_card_number",
    "redacted_webhook_body",
]

log = logging.getLogger("crm_pay.inbound")

#: The case (and admin alert) a card number found in CRM data opens.
CRM_CARD_NUMBER_CASE = "crm_data_card_number"

_MAX_IDEMPOTENCY_KEY = 200
# Fields that are an address: a redacted address is useless, so the value is dropped.
_ADDRESS_FIELDS = frozenset({"email", "phone"})
_SUBJECT_MAX = 120  # Case.subject
_Record = TypeVar("_Record")


@dataclass(frozen=True, slots=True)
class CrmHit:
    """A card number found in one field of one CRM record (the value is not kept)."""

    record: str  # "customer CUST-0001", "invoice INV-1001 of CUST-0001"
    field: str  # "name", "lines[2].description", "email"
    dropped: bool = False  # True: the whole record (or the address) was not taken in


def _redacted_text_fields(
    obj: _Record, record: str, *, prefix: str = ""
) -> tuple[_Record, list[CrmHit]]:
    """``obj`` with every string field redacted (addresses dropped), and the hits."""
    hits: list[CrmHit] = []
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if not isinstance(value, str) or not pan.contains_pan(value):
            continue
        dropped = f.name in _ADDRESS_FIELDS
        changes[f.name] = None if dropped else pan.redact(value)
        hits.append(CrmHit(record, prefix + f.name, dropped))
    return (dataclasses.replace(obj, **changes) if changes else obj), hits  # type: ignore[type-var]


def screen_customer(found: CrmCustomer) -> tuple[CrmCustomer | None, list[CrmHit]]:
    """The customer as we may keep it; ``None`` when its CRM id holds a card number."""
    if pan.contains_pan(found.crm_ref):
        return None, [CrmHit(f"customer {pan.redact(found.crm_ref)}", "crm_ref", True)]
    return _redacted_text_fields(found, f"customer {found.crm_ref}")


def screen_invoices(
    invoices: Iterable[CrmInvoice], *, customer_ref: str
) -> tuple[list[CrmInvoice], list[CrmHit]]:
    """The invoices as we may keep them; one whose number holds a card number is left out
    (an invoice number is its identity: redacting it could merge two invoices)."""
    kept: list[CrmInvoice] = []
    hits: list[CrmHit] = []
    for inv in invoices:
        if pan.contains_pan(inv.crm_ref) or pan.contains_pan(inv.customer_ref):
            what = "crm_ref" if pan.contains_pan(inv.crm_ref) else "customer_ref"
            hits.append(CrmHit(f"invoice {pan.redact(inv.crm_ref)} of {customer_ref}", what, True))
            continue
        record = f"invoice {inv.crm_ref} of {customer_ref}"
        clean, inv_hits = _redacted_text_fields(inv, record)
        lines = []
        for index, line in enumerate(clean.lines):
            clean_line, line_hits = _redacted_text_fields(line, record, prefix=f"lines[{index}].")
            lines.append(clean_line)
            inv_hits.extend(line_hits)
        if inv_hits:
            clean = dataclasses.replace(clean, lines=tuple(lines))
        kept.append(clean)
        hits.extend(inv_hits)
    return kept, hits


def screen_cards(
    cards: Iterable[StoredCard], *, customer_ref: str
) -> tuple[list[StoredCard], list[CrmHit]]:
    """Cards on file as we may show them; one whose token holds a card number is left out
    (a CRM that stores the number itself in the token field stores card data)."""
    kept: list[StoredCard] = []
    hits: list[CrmHit] = []
    for card in cards:
        record = f"card on file of {customer_ref}"
        if pan.contains_pan(card.token):
            hits.append(CrmHit(record, "token", True))
            continue
        summary, card_hits = _redacted_text_fields(card.card, record, prefix="card.")
        hits.extend(card_hits)
        kept.append(dataclasses.replace(card, card=summary) if card_hits else card)
    return kept, hits


def report_crm_hits(
    session: Session, ctx: Context, hits: Sequence[CrmHit], *, connector: str
) -> None:
    """Open one ``crm_data_card_number`` case per record and field (an admin alert), in
    the caller's transaction. A case already open for the same field is not repeated."""
    for hit in hits:
        subject = f"crm:{hit.record}:{hit.field}"
        if len(subject) > _SUBJECT_MAX:
            subject = subject[: _SUBJECT_MAX - 3] + "..."
        open_case(
            session,
            ctx,
            kind=CRM_CARD_NUMBER_CASE,
            subject=subject,
            detail={
                "connector": connector,
                "record": hit.record,
                "field": hit.field,
                "action": "left out" if hit.dropped else "redacted",
            },
        )
    if hits:
        log.error(
            "card number found in CRM data (%s): %s; not stored",
            connector,
            ", ".join(f"{h.record} {h.field}" for h in hits),
        )


def record_crm_hits(ctx: Context, hits: Sequence[CrmHit]) -> None:
    """:func:`report_crm_hits` in a transaction of its own (read-only look-ups)."""
    if hits:
        with ctx.db.transaction() as s:
            report_crm_hits(s, ctx, hits, connector=str(getattr(ctx.crm, "name", "crm")))


def refuse_card_number(value: str, *, what: str, code: str, status: int = 422) -> None:
    """Raise ``ValidationError`` when ``value`` holds a card number (never echoing it)."""
    if pan.contains_pan(value):
        raise ValidationError(
            f"{what} looks like it holds a card number, so the request was refused and "
            "nothing was stored or sent. Card numbers are only ever typed into the "
            "payment page; remove the number and try again.",
            code=code,
            status=status,
        )


def idempotency_key(value: object) -> str:
    """The ``Idempotency-Key`` of a request that moves money, checked: 1-200 characters
    and no card number (a key is stored with the payment). Refusals are 400s raised
    before anything is recorded or charged."""
    if not isinstance(value, str) or not value or len(value) > _MAX_IDEMPOTENCY_KEY:
        raise ValidationError(
            "an Idempotency-Key header (1-200 characters) is required",
            code="idempotency_key_required",
            status=400,
        )
    if any(not _inside_a_word(value, m) for m in pan.find_pans(value)):
        raise ValidationError(
            "the Idempotency-Key header looks like a card number, so the request was refused; "
            "nothing was stored or charged. Use a random id (for example a UUID) as the key.",
            code="card_number_in_idempotency_key",
            status=400,
        )
    return value


def _inside_a_word(text: str, match: pan.PanMatch) -> bool:
    """A digit run glued to a letter (``3f2a4111111111111111bc``, ``uuid4().hex``) is
    part of a generated id, not a number someone typed: about one random hex key in 250
    holds a Luhn-valid run, and refusing those would refuse good payments at random.
    A card number in a key stands apart (``order-4111 1111 1111 1111``)."""
    before = text[match.start - 1] if match.start > 0 else ""
    after = text[match.end] if match.end < len(text) else ""
    return before.isascii() and before.isalpha() or after.isascii() and after.isalpha()


def recipient(value: str, *, channel: str) -> str:
    """An email address or phone number given for a message, refused when it holds a
    card number (422, ``card_number_in_recipient``): nothing is queued or sent."""
    what = "the email address" if channel == "email" else "the phone number"
    refuse_card_number(value, what=what, code="card_number_in_recipient")
    return value


def stored_header(value: str | None, max_length: int) -> str:
    """A request header (User-Agent, a client address) as we may keep it: card numbers
    redacted, at most ``max_length`` characters. Redacted again after the cut, so the
    cut cannot turn a longer run of digits into a card-like one."""
    return pan.redact(pan.redact(value or "")[:max_length])


def _decoded(payload: str) -> str | None:
    try:
        return base64.b64decode(payload, validate=False).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return None


def webhook_has_card_number(documents: Iterable[str]) -> bool:
    """Whether a PSP notification carries a card number in any of ``documents`` (what
    the PSP's adapter says a person could read in it: ``PaymentGateway.
    webhook_documents``). A genuine notification never does: PSPs mask card numbers
    (``411111******1111``)."""
    return any(pan.contains_pan(text) for text in documents)


def redacted_webhook_body(payload: str) -> str:
    """``payload`` as it may be stored after :func:`webhook_has_card_number` said
    yes: the decoded document with the card numbers redacted, base64-encoded again (the
    column keeps its meaning; the signature no longer matches, by design)."""
    decoded = _decoded(payload)
    if decoded is None:
        return pan.redact(payload)
    return base64.b64encode(pan.redact(decoded).encode("utf-8")).decode("ascii")
