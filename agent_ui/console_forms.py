"""The console's take-payment form, translated into a ``CreatePayment`` command.

Pure translation, no I/O: the customer panel (``customer_view``) says which invoices are
open and what each still owes; the form says what the agent picked. Anything the agent
must fix comes back as a :class:`FormError` naming the field it belongs next to.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from crm_pay.domain.errors import ValidationError
from crm_pay.domain.ledger import OpenInvoice, plan_allocation
from crm_pay.domain.money import Money
from crm_pay.services.payments import CreatePayment

__all__ = ["CHANNELS", "FormError", "TakePayment", "parse_take_payment"]

# What the agent chooses → (payment channel, how the pay link travels).
CHANNELS: dict[str, tuple[str, str | None]] = {
    "email": ("link", "email"),
    "sms": ("link", "sms"),
    "card": ("vaulted", None),
    # keyed by the customer on the phone's keypad during the call (agent_ui/console_keypad.py)
    "keypad": ("ivr", None),
}
# The call's id as the telephony provider names it (Twilio: a Call SID, "CA" + 32 hex).
_CALL_SID = re.compile(r"[A-Za-z0-9_-]{2,64}")


class FormError(Exception):
    """A value the agent must correct; ``field`` is where the message is shown."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TakePayment:
    command: CreatePayment
    send_by: str | None  # "email" | "sms" for a pay link; None when a card is charged
    idempotency_key: str
    request_hash: str
    # Set when the amount is above the customer's open balance: the agent must confirm.
    over_balance: str | None = None
    # The call the keypad capture starts on (channel "ivr"); None otherwise.
    call_sid: str | None = None


def _open_invoices(customer: Mapping[str, Any]) -> dict[str, OpenInvoice]:
    """The panel's open invoices (something left to pay), by number, as the domain's
    allocation sees them."""
    cur = customer["currency"]
    invoices = {
        inv["number"]: OpenInvoice(
            inv["number"],
            total=Money.parse(inv["total"], cur),
            paid=Money.parse(inv["paid"], cur),
            due_on=date.fromisoformat(inv["due_on"]),
        )
        for inv in customer["invoices"]
    }
    return {ref: inv for ref, inv in invoices.items() if inv.outstanding.is_positive()}


def _allocate(
    picked: Sequence[str], open_invoices: Mapping[str, OpenInvoice], amount: Money | None
) -> tuple[Money, dict[str, Money]]:
    """Without an amount: each picked invoice in full. With one: spread over the picked
    invoices by the domain's rule (:func:`plan_allocation`: oldest due first, each up to
    what it owes), so the form shows what the payment will do."""
    chosen = [open_invoices[ref] for ref in picked]
    owed = {inv.ref: inv.outstanding for inv in chosen}
    if amount is None:
        return sum(owed.values(), Money.zero(chosen[0].total.currency)), owed
    total = sum(owed.values(), Money.zero(amount.currency))
    if amount > total:
        raise FormError(
            "amount",
            f"{amount.currency} {amount.to_decimal_str()} is more than the ticked invoices owe "
            f"({total.currency} {total.to_decimal_str()}). Lower the amount, or untick every "
            "invoice to pay towards the balance (anything above it becomes credit).",
        )
    plan = plan_allocation(amount, chosen)
    return amount, {a.invoice_ref: a.amount for a in plan.allocations}


def parse_take_payment(
    customer: Mapping[str, Any], form: Any, *, keypad_ready: bool = False
) -> TakePayment:
    """Read the form (a werkzeug ``MultiDict``) against the customer panel it was shown on.
    ``keypad_ready``: keypad payments are set up (``ctx.telephony``), so "keypad" may be
    chosen."""
    currency = customer["currency"]
    key = (form.get("idempotency_key") or "").strip()
    if not key or len(key) > 200:
        raise FormError("form", "This form is incomplete; reload the page and try again.")
    owed = _open_invoices(customer)
    picked = list(dict.fromkeys(form.getlist("invoice")))
    stray = [ref for ref in picked if ref not in owed]
    if stray:
        raise FormError(
            "invoice",
            f"Invoice {stray[0]} has nothing left to pay or is not this customer's; "
            "reload the page to see the current invoices.",
        )
    text = (form.get("amount") or "").strip()
    amount: Money | None = None
    if text:
        try:
            amount = Money.parse(text, currency)
        except ValidationError as exc:
            raise FormError("amount", exc.message) from None
        if not amount.is_positive():
            raise FormError("amount", "The amount must be more than zero.")
    if not picked and amount is None:
        raise FormError(
            "amount", "Tick the invoices the customer is paying, or type the amount to take."
        )
    if picked:
        amount, allocations = _allocate(picked, owed, amount)
    else:
        allocations = {}
    assert amount is not None
    over_balance = None if picked else _over_balance(customer, amount)

    choice = form.get("channel", "")
    if choice not in CHANNELS:
        raise FormError("channel", "Choose how the customer pays: email link, SMS link or card.")
    channel, send_by = CHANNELS[choice]
    call_sid = _call_sid(form) if choice == "keypad" else None
    if choice == "keypad" and not keypad_ready:
        raise FormError("channel", "Keypad payments are not set up here; send a pay link instead.")
    if send_by == "email" and not customer.get("email"):
        raise FormError("channel", "The CRM has no email address for this customer; use SMS.")
    if send_by == "sms" and not customer.get("phone"):
        raise FormError("channel", "The CRM has no mobile number for this customer; use email.")
    card = form.get("card") or None
    consent = form.get("consent") == "yes"
    if channel == "vaulted":
        if not card:
            raise FormError("card", "Pick the card on file to charge.")
        if not consent:
            raise FormError(
                "consent",
                "Ask the customer for permission to charge this card, then tick "
                "'Customer consented'.",
            )
    command = CreatePayment(
        crm_ref=customer["crm_ref"],
        amount=amount.to_decimal_str(),
        currency=currency,
        channel=channel,
        allocations={ref: m.to_decimal_str() for ref, m in allocations.items()} or None,
        payment_method_token=card if channel == "vaulted" else None,
        customer_consent=consent if channel == "vaulted" else False,
    )
    digest = hashlib.sha256(
        json.dumps(
            {
                "customer": command.crm_ref,
                "amount": command.amount,
                "currency": command.currency,
                "channel": choice,
                "allocations": command.allocations,
                "card": command.payment_method_token,
                "consent": command.customer_consent,
                **({"call": call_sid} if call_sid else {}),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    return TakePayment(command, send_by, key, digest, over_balance, call_sid)


def _call_sid(form: Any) -> str:
    """The Call SID typed or prefilled for a keypad payment, or a FormError."""
    text = (form.get("call_sid") or "").strip()
    if not text:
        raise FormError(
            "call_sid",
            "Type the id of the customer's call (the Call SID, CA…) to take the "
            "card on its keypad.",
        )
    if _CALL_SID.fullmatch(text) is None:
        raise FormError(
            "call_sid", "That is not a call id: a Call SID is letters and digits, e.g. CA1234…"
        )
    return text


def _over_balance(customer: Mapping[str, Any], amount: Money) -> str | None:
    """Words for an amount above the open balance (what is above it becomes credit),
    or None. Ticked invoices cannot be overpaid (:func:`_allocate` refuses it)."""
    if customer.get("balance") is None:  # a panel that does not show the balance
        return None
    balance = Money.parse(customer["balance"], amount.currency)
    if not amount > balance:
        return None
    owed = balance if balance.is_positive() else Money.zero(amount.currency)
    credit = amount - owed
    return (
        f"{amount.currency} {amount.to_decimal_str()} is more than the customer's open balance "
        f"({owed.currency} {owed.to_decimal_str()}): {credit.currency} "
        f"{credit.to_decimal_str()} would become credit on the account. Check the amount "
        "with the customer."
    )
