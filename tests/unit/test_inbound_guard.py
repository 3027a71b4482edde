"""The inbound PAN guard on its own: what it keeps of CRM records, what it refuses.

Only Braintree's published test card numbers are used."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import date

import pytest

from connectors.psp.braintree_mapping import webhook_documents
from crm_pay.domain.errors import ValidationError
from crm_pay.domain.money import Money
from crm_pay.ports import (
    CardSummary,
    CrmCustomer,
    CrmInvoice,
    CrmInvoiceLine,
    StoredCard,
    WebhookEnvelope,
)
from crm_pay.services import inbound
from vault import pan

VISA = "4111111111111111"
VISA_TYPED = "4111\u00a01111-1111.1111"
AMEX_FULL_WIDTH = "３７８２ ８２２４ ６３１ ０００５"
USD0 = Money.zero("USD")


def _invoice(ref: str = "INV-1", description: str = "Widget", **kw: object) -> CrmInvoice:
    line = CrmInvoiceLine(description, 1, Money(500, "USD"), USD0, sku=kw.pop("sku", None))  # type: ignore[arg-type]
    return CrmInvoice(
        crm_ref=ref,
        customer_ref="C-1",
        currency="USD",
        issued_on=date(2026, 1, 1),
        due_on=date(2026, 2, 1),
        lines=(line,),
        shipping=USD0,
        **kw,  # type: ignore[arg-type]
    )


def test_customer_text_is_redacted_and_addresses_with_a_card_are_dropped() -> None:
    found = CrmCustomer(
        crm_ref="C-1",
        name=f"Ann {VISA_TYPED}",
        email=f"{VISA}@example.com",
        phone="+15550100199",
        company=AMEX_FULL_WIDTH,
    )
    kept, hits = inbound.screen_customer(found)
    assert kept is not None
    assert kept.name == "Ann [REDACTED PAN]" and kept.company == "[REDACTED PAN]"
    assert kept.email is None and kept.phone == "+15550100199"
    assert {(h.field, h.dropped) for h in hits} == {
        ("name", False),
        ("email", True),
        ("company", False),
    }
    assert all(h.record == "customer C-1" for h in hits)


def test_a_customer_whose_id_is_a_card_number_is_not_taken_in() -> None:
    kept, hits = inbound.screen_customer(CrmCustomer(crm_ref=VISA, name="Ann"))
    assert kept is None
    assert [(h.record, h.field) for h in hits] == [("customer [REDACTED PAN]", "crm_ref")]


def test_a_clean_customer_passes_unchanged() -> None:
    found = CrmCustomer(crm_ref="C-1", name="Ann Lee", phone="+4915123456789")
    assert inbound.screen_customer(found) == (found, [])


def test_invoice_lines_are_redacted_and_an_invoice_numbered_with_a_card_is_left_out() -> None:
    kept, hits = inbound.screen_invoices(
        [
            _invoice(description=f"read out {VISA_TYPED}", sku=VISA, tax_label=f"VAT {VISA}"),
            _invoice(ref=VISA),
            _invoice(ref="INV-3"),
        ],
        customer_ref="C-1",
    )
    assert [i.crm_ref for i in kept] == ["INV-1", "INV-3"]
    assert kept[0].lines[0].description == "read out [REDACTED PAN]"
    assert kept[0].lines[0].sku == "[REDACTED PAN]" and kept[0].tax_label == "VAT [REDACTED PAN]"
    assert kept[0].total == Money(500, "USD")  # amounts untouched
    assert {(h.record, h.field) for h in hits} == {
        ("invoice INV-1 of C-1", "tax_label"),
        ("invoice INV-1 of C-1", "lines[0].description"),
        ("invoice INV-1 of C-1", "lines[0].sku"),
        ("invoice [REDACTED PAN] of C-1", "crm_ref"),
    }


def test_a_card_on_file_whose_token_is_a_card_number_is_not_offered() -> None:
    good = StoredCard("tok_1", CardSummary("Visa", "1111"))
    kept, hits = inbound.screen_cards(
        [good, StoredCard(VISA, CardSummary("Visa", "1111"))], customer_ref="C-1"
    )
    assert kept == [good]
    assert [(h.field, h.dropped) for h in hits] == [("token", True)]


@pytest.mark.parametrize("key", [VISA, VISA_TYPED, f"retry-{AMEX_FULL_WIDTH}"])
def test_an_idempotency_key_with_a_card_number_is_refused_with_400(key: str) -> None:
    with pytest.raises(ValidationError) as refused:
        inbound.idempotency_key(key)
    assert refused.value.status == 400
    assert refused.value.code == "card_number_in_idempotency_key"
    assert "nothing was stored or charged" in refused.value.message
    assert VISA not in refused.value.message


@pytest.mark.parametrize("key", ["", "x" * 201, None, 5])
def test_a_missing_or_oversized_idempotency_key_is_still_refused(key: object) -> None:
    with pytest.raises(ValidationError) as refused:
        inbound.idempotency_key(key)
    assert refused.value.code == "idempotency_key_required" and refused.value.status == 400


def test_ordinary_idempotency_keys_pass() -> None:
    for key in ("0f8fad5b-d9cb-469f-a165-70867728950e", "a" * 200, "order-2026-12-02-0001"):
        assert inbound.idempotency_key(key) == key


def test_random_hex_keys_are_never_refused() -> None:
    """``uuid.uuid4().hex`` keys: about one in 250 holds a Luhn-valid digit run between
    hex letters; those are ids, and refusing them would refuse good payments at random."""
    glued = "3f2a" + VISA + "bc9d"
    assert pan.contains_pan(glued)  # what the detector sees (and logs redact) ...
    assert inbound.idempotency_key(glued) == glued  # ... is not a typed card number
    for _ in range(3000):
        key = uuid.uuid4().hex
        assert inbound.idempotency_key(key) == key
    with pytest.raises(ValidationError):  # standing apart, it is a card number
        inbound.idempotency_key("3f2a-" + VISA + "-bc9d")


def test_a_recipient_with_a_card_number_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        inbound.recipient(f"{VISA_TYPED}@example.com", channel="email")
    assert refused.value.code == "card_number_in_recipient" and refused.value.status == 422
    assert inbound.recipient("ann@example.com", channel="email") == "ann@example.com"


def test_stored_headers_are_redacted_and_cut_without_leaving_a_card() -> None:
    assert inbound.stored_header(f"Mozilla/5.0 {VISA_TYPED}", 200) == "Mozilla/5.0 [REDACTED PAN]"
    assert inbound.stored_header(None, 10) == ""
    # 30 digits are no card; their first 16 could pass the Luhn check once cut.
    long_run = VISA + "22222222222222"
    assert VISA not in inbound.stored_header(long_run, len(VISA))


def _signed(document: bytes) -> tuple[str, str]:
    payload = base64.encodebytes(document)
    digest = hmac.new(b"k", payload, hashlib.sha1).hexdigest()
    return f"public|{digest}", payload.decode("ascii")


def _has_card_number(signature: str, payload: str) -> bool:
    """The check receive_webhook makes, with the Braintree adapter's documents."""
    envelope = WebhookEnvelope(signature=signature, payload=payload)
    return inbound.webhook_has_card_number(webhook_documents(envelope))


def test_a_webhook_body_holding_a_card_number_is_found_and_stored_redacted() -> None:
    signature, payload = _signed(f"<notification><n>{VISA_TYPED}</n></notification>".encode())
    assert _has_card_number(signature, payload)
    stored = base64.b64decode(inbound.redacted_webhook_body(payload)).decode()
    assert stored == "<notification><n>[REDACTED PAN]</n></notification>"


def test_a_masked_number_and_the_signature_digest_are_not_card_numbers() -> None:
    body = b"<notification><masked-number>411111******1111</masked-number></notification>"
    _, payload = _signed(body)
    # a digest whose decimal run passes Luhn and starts like a card
    digest = VISA + "a" * 24
    assert not _has_card_number(f"public|{digest}", payload)
    assert _has_card_number(f"{VISA}|{digest}", payload)
