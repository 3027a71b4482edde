"""Cards the customer saved on the pay page, and the consent each was saved with.

Layer: records. The customer ticks "Save this card for future payments to <merchant>"
(:func:`consent_wording`); charging (:mod:`.charging`) writes the consent with the
attempt, before the PSP is called (:func:`record_consent`), and asks the PSP to keep the
card only if the sale succeeds. When the PSP's answer is applied (:mod:`.psp_outcome`,
shared with the janitor and the webhooks) :func:`keep_saved_card` completes the consent
with the PSP's token. No tick, or a declined sale, keeps nothing. The agent sees the
saved card as a card on file with who consented (the customer, through the pay link),
when, and the exact words shown.

A sale the fraud rules screen is an authorization first, and Braintree keeps the card as
soon as the authorization succeeds (``options.store_in_vault_on_success``: braintree_python
tests/integration/test_transaction.py, the card's token is on the authorized sale); it
cannot keep it afterwards from a transaction, the nonce being spent. So the request to
keep it is sent from the start: a held payment that a supervisor releases completes the
consent when the release is applied, as any successful sale does; an authorization that
crm-pay then refuses (voided by the fraud rules, declined by a supervisor's review) leaves
a card nobody paid with: :func:`forget_vaulted_card` drops it from the cards on file and has the
PSP delete it (``PaymentMethod.delete``) through the outbox, delivered by
:func:`delete_at_psp` with no transaction open and retried until the PSP answers.

The words are the server's, never the request's: the pay page renders
:func:`consent_wording` (or its translation, chosen on the server) and, when the box
came back ticked, passes that same text in :class:`SaveCardConsent`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import ValidationError
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Customer, Payment, SavedCardConsent
from crm_pay.ports import (
    CardSummary,
    PaymentMethodVault,
    PspTransaction,
    StoredCard,
    capability,
)
from vault import pan

from .context import Context
from .outbox import enqueue

__all__ = [
    "CONSENT_WORDING",
    "CONSENT_WORDING_MAX",
    "SaveCardConsent",
    "consent_wording",
    "consents_for",
    "delete_at_psp",
    "forget_vaulted_card",
    "keep_saved_card",
    "VAULT_DELETE_TOPIC",
    "record_consent",
    "saved_cards_of",
]

#: The sentence next to the pay page's checkbox (``{merchant}``: the merchant's name).
CONSENT_WORDING = "Save this card for future payments to {merchant}"
CONSENT_WORDING_MAX = 500
log = logging.getLogger("crm_pay.saved_cards")

#: The outbox topic of a vaulted card to delete at the PSP (:func:`delete_at_psp`).
VAULT_DELETE_TOPIC = "psp.delete_payment_method"
# a language tag as the pages use them ("en", "fr", "es-MX"), at most 8 characters
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,4})?")


def consent_wording(ctx: Context) -> str:
    """The words the pay page shows next to the "save this card" box, in English."""
    return CONSENT_WORDING.format(merchant=ctx.settings.merchant.name)


@dataclass(frozen=True, slots=True)
class SaveCardConsent:
    """What the customer agreed to: the words exactly as the page showed them, and the
    language they were shown in."""

    wording: str
    language: str = "en"

    def __post_init__(self) -> None:
        if not self.wording.strip() or len(self.wording) > CONSENT_WORDING_MAX:
            raise ValidationError("the consent wording must be the sentence the page showed")
        if pan.contains_pan(self.wording):
            raise ValidationError("the consent wording holds what looks like a card number")
        if not _LANGUAGE.fullmatch(self.language):
            raise ValidationError(
                f"the consent's language must be a language tag such as 'en' or 'es-MX', "
                f"not {self.language[:20]!r}"
            )


def record_consent(
    s: Session,
    ctx: Context,
    payment: Payment,
    consent: SaveCardConsent,
    *,
    pay_link_id: int | None,
    at: datetime | None = None,
) -> SavedCardConsent:
    """The tick for the payment's current attempt, in the caller's transaction (the one
    that records the attempt, before the PSP is called)."""
    row = SavedCardConsent(
        payment_id=payment.id,
        attempt=payment.attempt,
        customer_id=payment.customer_id,
        pay_link_id=pay_link_id,
        wording=consent.wording,
        language=consent.language,
        consented_at=at or ctx.now(),
    )
    s.add(row)
    return row


def keep_saved_card(s: Session, ctx: Context, payment: Payment, txn: PspTransaction) -> bool:
    """The PSP kept the card of a successful sale (``txn.card.vault_token``): complete the
    consent of that attempt with it. Without a consent for the attempt nothing is kept,
    whatever the PSP says; a repeat is a no-op. Returns True when a card was saved now."""
    card = txn.card
    if card is None or not card.vault_token:
        return False
    row = s.scalars(
        select(SavedCardConsent).where(
            SavedCardConsent.payment_id == payment.id,
            SavedCardConsent.attempt == payment.attempt,
        )
    ).first()
    if row is None or row.vault_token is not None:
        return False
    row.vault_token = card.vault_token[:100]
    row.card_brand = card.brand[:40] or None
    row.card_last4 = card.last4[-4:] or None
    row.card_exp = f"{card.exp_month}/{card.exp_year}" if card.exp_month and card.exp_year else None
    row.wallet = card.wallet
    row.wallet_account = card.account and card.account[:120]
    row.vaulted_at = ctx.now()
    return True


def forget_vaulted_card(
    s: Session, ctx: Context, payment: Payment, txn: PspTransaction | None
) -> bool:
    """The locked ``payment``'s current attempt ended voided or declined after its
    authorization kept the card the customer ticked to save (``txn``: the PSP's last word
    on that authorization): take the card off the cards on file (the consent stays, with
    no card, as after any declined sale) and queue its deletion at the PSP. Only a card
    kept for this attempt's consent is deleted, never a card on file the payment was
    charged with. A repeat is a no-op. Returns True when a deletion was queued now."""
    row = s.scalars(
        select(SavedCardConsent).where(
            SavedCardConsent.payment_id == payment.id,
            SavedCardConsent.attempt == payment.attempt,
        )
    ).first()
    if row is None:
        return False
    kept = txn.card.vault_token if txn is not None and txn.card is not None else None
    token = row.vault_token or kept
    if not token or token == payment.payment_method_token:
        return False
    row.vault_token = row.card_brand = row.card_last4 = row.card_exp = None
    row.wallet = row.wallet_account = None
    row.vaulted_at = None
    enqueue(
        s,
        topic=VAULT_DELETE_TOPIC,
        ordering_key=f"payment:{payment.id}",
        dedupe_key=f"vault-delete:{payment.id}:{payment.attempt}",
        payload={"token": token, "payment_id": payment.id},
        now=ctx.now(),
    )
    return True


def delete_at_psp(ctx: Context, payload: dict[str, Any]) -> None:
    """Outbox handler of :data:`VAULT_DELETE_TOPIC`: delete the token at the PSP
    (idempotent: a token already gone is fine). ``PspUnavailable`` leaves the message to
    be tried again."""
    vault = capability(ctx.psp, PaymentMethodVault)
    if vault is None:
        log.warning(
            "payment %s: the PSP %s cannot delete a payment method; delete the card its "
            "sale kept in the PSP's own control panel",
            payload.get("payment_id"),
            ctx.psp.name,
        )
        return
    vault.delete_payment_method(str(payload["token"]))


def _saved_rows(s: Session, crm_ref: str) -> list[tuple[SavedCardConsent, str]]:
    rows = s.execute(
        select(SavedCardConsent, Customer.name)
        .join(Customer, Customer.id == SavedCardConsent.customer_id)
        .where(Customer.crm_ref == crm_ref, SavedCardConsent.vault_token.is_not(None))
        .order_by(SavedCardConsent.vaulted_at.desc(), SavedCardConsent.id.desc())
    ).all()
    return [(row, name) for row, name in rows]


def saved_cards_of(ctx: Context, crm_ref: str) -> list[StoredCard]:
    """The cards the customer saved on the pay page, newest first (brand + last 4, or
    the wallet's masked account, only)."""
    with ctx.db.transaction() as s:
        rows = _saved_rows(s, crm_ref)
    cards: list[StoredCard] = []
    for row, _name in rows:
        month, _, year = (row.card_exp or "").partition("/")
        summary = CardSummary(
            brand=row.card_brand or "Card",
            last4=row.card_last4 or "",
            exp_month=month or None,
            exp_year=year or None,
            wallet=row.wallet,
            account=row.wallet_account,
            vault_token=row.vault_token,
        )
        cards.append(StoredCard(token=str(row.vault_token), card=summary))
    return cards


def _consent_record(row: SavedCardConsent, customer_name: str) -> dict[str, Any]:
    return {
        "by": customer_name,
        "through": "pay link",
        "pay_link_id": row.pay_link_id,
        "payment_id": row.payment_id,
        "at": as_utc(row.consented_at),
        "wording": row.wording,
        "language": row.language,
    }


def consents_for(ctx: Context, crm_ref: str) -> dict[str, dict[str, Any]]:
    """Token -> consent record (who: the customer's name, through the pay link; when;
    the words shown and their language), for the customer's saved cards."""
    with ctx.db.transaction() as s:
        return {
            str(row.vault_token): _consent_record(row, name)
            for row, name in _saved_rows(s, crm_ref)
        }
