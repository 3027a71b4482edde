"""Payment reminders: an admin's rules, the worker's passes, the customer's pay link.

A rule says when an invoice is reminded: first on its due date + ``offset_days``
(negative: before it is due), then every ``repeat_every_days`` (0: once), at most
``max_reminders`` times per invoice, by ``channel`` (email or SMS), never between
``quiet_start`` and ``quiet_end`` in the rule's ``timezone``.

:func:`run_due_reminders` (the worker, every ``CRM_PAY_REMINDER_INTERVAL`` seconds,
under an advisory lock) sends what is due. Each reminder is claimed by its row in
``reminder_sends``, unique per (invoice, rule, sequence) and written with its message in
one transaction: two workers never send one reminder, and a pass run again sends nothing
new. An invoice with nothing left to pay and a customer who opted out get no reminder;
both are checked again when the message is delivered.

The reminder's "pay now" link opens
:func:`crm_pay.services.reminder_payments.open_reminder_payment`, which makes the pay
link then (a pay link is open for minutes, a reminder is read days later), for what is
still owed on the invoice. :func:`reminder_figures` is what the dashboard shows.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_pay.domain.errors import NotFound, ValidationError
from crm_pay.domain.ledger import EntryKind
from crm_pay.domain.money import Money
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import (
    Customer,
    Invoice,
    LedgerEntryRow,
    Message,
    ReminderOptOut,
    ReminderRule,
    ReminderSend,
)

from . import audit
from .context import Context
from .customers import load_ledger
from .notifications import message_domain, queue_reminder
from .reminder_links import is_opted_out

__all__ = [
    "CONVERSION_DAYS",
    "RuleForm",
    "in_quiet_hours",
    "rule_views",
    "save_rule",
    "set_rule_enabled",
    "run_due_reminders",
    "outstanding_on",
    "reminder_figures",
]

log = logging.getLogger("crm_pay.reminders")

CONVERSION_DAYS = 7  # a payment this many days after a reminder counts for it
_BATCH = 200  # invoices looked at per rule and pass; the next pass takes the rest
_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


@dataclass(frozen=True)
class RuleForm:
    """A rule as the admin typed it (strings, checked by :func:`save_rule`)."""

    name: str
    offset_days: str
    repeat_every_days: str = "0"
    max_reminders: str = "1"
    channel: str = "email"
    timezone: str = "UTC"
    quiet_start: str = ""
    quiet_end: str = ""
    enabled: bool = True


def _number(raw: str, what: str, low: int, high: int) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValidationError(f"{what} must be a whole number", code="reminder_rule") from None
    if not low <= value <= high:
        raise ValidationError(f"{what} must be from {low} to {high}", code="reminder_rule")
    return value


def _checked(form: RuleForm) -> dict[str, Any]:
    name = form.name.strip()
    if not 1 <= len(name) <= 100:
        raise ValidationError("give the rule a name (up to 100 characters)", code="reminder_rule")
    channel = form.channel.strip().lower()
    if channel not in ("email", "sms"):
        raise ValidationError("channel must be email or SMS", code="reminder_rule")
    zone = form.timezone.strip() or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"{zone[:64]!r} is not a timezone; use a name such as Europe/London",
            code="reminder_rule",
        ) from None
    start, end = form.quiet_start.strip(), form.quiet_end.strip()
    for value, what in ((start, "quiet hours start"), (end, "quiet hours end")):
        if value and not _HHMM.fullmatch(value):
            raise ValidationError(f"{what} must be a time such as 21:00", code="reminder_rule")
    if bool(start) != bool(end):
        raise ValidationError("give both ends of the quiet hours, or neither", code="reminder_rule")
    return {
        "name": name,
        "offset_days": _number(form.offset_days, "days from the due date", -60, 365),
        "repeat_every_days": _number(form.repeat_every_days, "repeat every (days)", 0, 90),
        "max_reminders": _number(form.max_reminders, "reminders per invoice", 1, 10),
        "channel": channel,
        "timezone": zone,
        "quiet_start": start,
        "quiet_end": end,
        "enabled": bool(form.enabled),
    }


def _view(rule: ReminderRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "offset_days": rule.offset_days,
        "repeat_every_days": rule.repeat_every_days,
        "max_reminders": rule.max_reminders,
        "channel": rule.channel,
        "timezone": rule.timezone,
        "quiet_start": rule.quiet_start,
        "quiet_end": rule.quiet_end,
        "enabled": rule.enabled,
        "updated_by": rule.updated_by,
    }


def rule_views(ctx: Context) -> list[dict[str, Any]]:
    with ctx.db.transaction() as s:
        return [_view(r) for r in s.scalars(select(ReminderRule).order_by(ReminderRule.id))]


def save_rule(
    ctx: Context, form: RuleForm, *, actor: str, rule_id: int | None = None
) -> dict[str, Any]:
    """Create a rule (``rule_id`` None) or change one. Reminders already sent under a
    changed rule count towards its new maximum."""
    values = _checked(form)
    now = ctx.now()
    with ctx.db.transaction() as s:
        if rule_id is None:
            rule = ReminderRule(created_at=now, **values)
            s.add(rule)
        else:
            found = s.get(ReminderRule, rule_id)
            if found is None:
                raise NotFound(f"no reminder rule {rule_id}")
            rule = found
            for key, value in values.items():
                setattr(rule, key, value)
        rule.updated_by = actor
        rule.updated_at = now
        s.flush()
        audit.record(
            s,
            ctx,
            actor=actor,
            action="reminder_rule.created" if rule_id is None else "reminder_rule.changed",
            subject=f"reminder_rule:{rule.id}",
            data={k: v for k, v in values.items() if k != "name"},
        )
        return _view(rule)


def set_rule_enabled(ctx: Context, rule_id: int, enabled: bool, *, actor: str) -> dict[str, Any]:
    with ctx.db.transaction() as s:
        rule = s.get(ReminderRule, rule_id)
        if rule is None:
            raise NotFound(f"no reminder rule {rule_id}")
        rule.enabled = enabled
        rule.updated_by = actor
        rule.updated_at = ctx.now()
        audit.record(
            s,
            ctx,
            actor=actor,
            action="reminder_rule.enabled" if enabled else "reminder_rule.disabled",
            subject=f"reminder_rule:{rule.id}",
            data={},
        )
        return _view(rule)


def in_quiet_hours(rule: ReminderRule, moment: datetime) -> bool:
    """Whether ``moment`` falls in the rule's quiet hours, in the rule's timezone (a
    window such as 21:00-08:00 runs over midnight)."""
    if not rule.quiet_start or not rule.quiet_end or rule.quiet_start == rule.quiet_end:
        return False
    local = moment.astimezone(ZoneInfo(rule.timezone)).time()
    start = time.fromisoformat(rule.quiet_start)
    end = time.fromisoformat(rule.quiet_end)
    if start < end:
        return start <= local < end
    return local >= start or local < end


@dataclass(frozen=True)
class _Due:
    rule_id: int
    invoice_id: int
    sequence: int
    channel: str
    recipient: str


def _due_for_rule(s: Session, rule: ReminderRule, now: datetime) -> list[_Due]:
    today = now.astimezone(ZoneInfo(rule.timezone)).date()
    sent = (
        select(ReminderSend.invoice_id, func.count().label("n"))
        .where(ReminderSend.rule_id == rule.id)
        .group_by(ReminderSend.invoice_id)
        .subquery()
    )
    opted_out = select(ReminderOptOut.customer_id)
    rows = s.execute(
        select(Invoice, Customer, func.coalesce(sent.c.n, 0))
        .join(Customer, Customer.id == Invoice.customer_id)
        .outerjoin(sent, sent.c.invoice_id == Invoice.id)
        .where(
            Invoice.due_on <= today - timedelta(days=rule.offset_days),
            func.coalesce(sent.c.n, 0) < rule.max_reminders,
            Customer.id.not_in(opted_out),
        )
        .order_by(Invoice.due_on, Invoice.id)
        .limit(_BATCH)
    ).all()
    due: list[_Due] = []
    for invoice, customer, count in rows:
        count = int(count)
        if count and not rule.repeat_every_days:
            continue
        first = invoice.due_on + timedelta(days=rule.offset_days)
        if today < first + timedelta(days=count * rule.repeat_every_days):
            continue
        if outstanding_on(s, customer, invoice.crm_ref) is None:
            continue  # paid: never reminded again
        recipient = customer.email if rule.channel == "email" else customer.phone
        if not recipient:
            continue
        due.append(_Due(rule.id, invoice.id, count + 1, rule.channel, recipient))
    return due


def outstanding_on(s: Session, customer: Customer, invoice_ref: str) -> Money | None:
    """What is still owed on the customer's invoice; None once nothing is."""
    for open_invoice in load_ledger(s, customer).open_invoices():
        if open_invoice.ref == invoice_ref:
            return open_invoice.outstanding
    return None


def run_due_reminders(ctx: Context) -> dict[str, int]:
    """One pass: every reminder due now under every enabled rule, outside its quiet
    hours. Returns ``{"sent": n, "quiet": rules skipped for quiet hours}``."""
    now = ctx.now()
    with ctx.db.transaction() as s:
        rules = list(s.scalars(select(ReminderRule).where(ReminderRule.enabled.is_(True))))
        quiet = [r for r in rules if in_quiet_hours(r, now)]
        due = [d for r in rules if r not in quiet for d in _due_for_rule(s, r, now)]
    sent = sum(1 for item in due if _send(ctx, item))
    if sent:
        log.info("reminders: %d queued", sent)
    return {"sent": sent, "quiet": len(quiet)}


def _send(ctx: Context, item: _Due) -> bool:
    message_id = f"reminder.{item.invoice_id}.{item.rule_id}.{item.sequence}@{message_domain(ctx)}"
    try:
        with ctx.db.transaction() as s:
            # Checked again in the claiming transaction: a payment or an opt-out since
            # the pass started wins.
            invoice = s.get(Invoice, item.invoice_id)
            assert invoice is not None
            customer = s.get(Customer, invoice.customer_id)
            assert customer is not None
            if is_opted_out(s, customer.id) or outstanding_on(s, customer, invoice.crm_ref) is None:
                return False
            s.add(
                ReminderSend(
                    invoice_id=item.invoice_id,
                    rule_id=item.rule_id,
                    sequence=item.sequence,
                    message_id=message_id,
                    payment_id=None,
                    created_at=ctx.now(),
                )
            )
            s.flush()  # the claim: a second worker's row fails here
            queue_reminder(
                s, ctx, message_id=message_id, channel=item.channel, recipient=item.recipient
            )
    except IntegrityError:
        return False  # another worker sent this one
    return True


def reminder_figures(session: Session, *, start: datetime, end: datetime) -> dict[str, Any]:
    """Reminders sent in ``[start, end)``: ``sent`` (delivered messages), ``queued``
    (all reminders, delivered or not), ``invoices_reminded``, ``converted`` (reminded
    invoices with a payment booked within ``CONVERSION_DAYS`` days after one of their
    reminders) and ``conversion`` (converted / invoices reminded, None without any)."""
    rows = session.execute(
        select(
            ReminderSend.invoice_id,
            ReminderSend.created_at,
            Message.status,
            Invoice.crm_ref,
            Invoice.customer_id,
        )
        .join(Message, Message.message_id == ReminderSend.message_id)
        .join(Invoice, Invoice.id == ReminderSend.invoice_id)
        .where(ReminderSend.created_at >= start, ReminderSend.created_at < end)
    ).all()
    invoices = {r.invoice_id for r in rows}
    paid_at: dict[tuple[int, str | None], list[datetime]] = {}
    if rows:
        window = timedelta(days=CONVERSION_DAYS)
        for customer_id, ref, when in session.execute(
            select(
                LedgerEntryRow.customer_id, LedgerEntryRow.invoice_ref, LedgerEntryRow.created_at
            ).where(
                LedgerEntryRow.kind.in_((EntryKind.PAYMENT.value, EntryKind.CREDIT_APPLIED.value)),
                LedgerEntryRow.amount_minor < 0,
                LedgerEntryRow.invoice_ref.in_({r.crm_ref for r in rows}),
                LedgerEntryRow.created_at >= start,
                LedgerEntryRow.created_at < end + window,
            )
        ):
            paid_at.setdefault((customer_id, ref), []).append(_aware(when))
        converted = {
            r.invoice_id
            for r in rows
            if any(
                _aware(r.created_at) <= t <= _aware(r.created_at) + window
                for t in paid_at.get((r.customer_id, r.crm_ref), [])
            )
        }
    else:
        converted = set()
    return {
        "sent": sum(1 for r in rows if r.status == "sent"),
        "queued": len(rows),
        "invoices_reminded": len(invoices),
        "converted": len(converted),
        "conversion": round(len(converted) / len(invoices), 4) if invoices else None,
    }


def _aware(moment: datetime) -> datetime:
    aware = as_utc(moment)
    assert aware is not None
    return aware
