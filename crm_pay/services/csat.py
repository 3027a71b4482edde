"""Customer satisfaction (CSAT): a one-question survey after a successful payment.

The receipt email of a payment carries a signed link ``{prefix}/survey/<token>`` when
``CRM_PAY_CSAT`` is on (no extra message on the payment's hot path). The link names the
payment and nothing else; it expires after ``CRM_PAY_CSAT_LINK_TTL_DAYS``. One answer per
payment (a unique row): a second answer is refused kindly. Each answer goes to the
customer's CRM timeline through the outbox (``crm.timeline_note``). A comment is stored
and sent with any card number in it redacted.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crm_pay.domain.errors import Conflict, Gone, NotFound, ValidationError
from crm_pay.domain.money import Money
from crm_pay.domain.payment import SUCCESSFUL
from crm_pay.persistence.models import CsatAnswer, Customer, Payment
from crm_pay.persistence.models import Receipt as ReceiptRow
from vault import pan, tokens
from vault.errors import TokenExpired, TokenInvalid

from . import audit
from .context import Context
from .payment_records import crm_timeline_note

__all__ = [
    "COMMENT_MAX_LENGTH",
    "survey_link",
    "open_survey",
    "answer_survey",
    "csat_figures",
]

_PURPOSE = b"crm-pay/csat-survey/v1"
COMMENT_MAX_LENGTH = 1000
_INVALID = "this survey link is not valid"


def _key(ctx: Context) -> bytes:
    # A key of its own: a survey link can never be taken for a pay or receipts link.
    return hmac.new(ctx.settings.token_pepper, _PURPOSE, hashlib.sha256).digest()


def survey_link(ctx: Context, payment_id: str) -> str | None:
    """The survey URL of a payment, or None while surveys are off."""
    if not ctx.config.csat:
        return None
    signed = tokens.sign(
        {"p": payment_id},
        key=_key(ctx),
        expires_in=ctx.config.csat_link_ttl_days * 86400,
        now=ctx.now(),
    )
    base = ctx.settings.public_url.rstrip("/") + ctx.settings.url_prefix
    return f"{base}/survey/{signed}"


def _payment_of(ctx: Context, signed: str) -> str:
    if not signed or len(signed) > 1000:
        raise NotFound(_INVALID, code="survey_link_invalid")
    try:
        payload = tokens.verify(signed, key=_key(ctx), now=ctx.now())
    except TokenExpired:
        raise Gone(
            "this survey has closed; thank you all the same", code="survey_link_expired"
        ) from None
    except TokenInvalid:
        raise NotFound(_INVALID, code="survey_link_invalid") from None
    payment_id = payload.get("p")
    if not isinstance(payment_id, str):
        raise NotFound(_INVALID, code="survey_link_invalid")
    return payment_id


def open_survey(ctx: Context, signed: str) -> dict[str, Any]:
    """What the survey page shows: the merchant, the payment and whether it was answered."""
    payment_id = _payment_of(ctx, signed)
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        if payment is None or payment.status not in SUCCESSFUL:
            raise NotFound(_INVALID, code="survey_link_invalid")
        answered = s.scalar(select(CsatAnswer.id).where(CsatAnswer.payment_id == payment_id))
        return {
            "payment_id": payment_id,
            "merchant": ctx.settings.merchant.name,
            "amount": Money(payment.amount_minor, payment.currency).format(),
            "money": Money(payment.amount_minor, payment.currency),  # for the page's language
            "customer": s.scalar(
                select(Customer.crm_ref).where(Customer.id == payment.customer_id)
            ),
            "answered": answered is not None,
        }


def answer_survey(ctx: Context, signed: str, *, score: object, comment: str) -> dict[str, Any]:
    """Record the one answer of a payment's survey and send it to the CRM timeline.

    Raises ``ValidationError`` for a score outside 1-5 or a comment too long, and
    ``Conflict`` (code ``survey_answered``) when the payment was answered already."""
    payment_id = _payment_of(ctx, signed)
    try:
        value = int(str(score).strip())
    except ValueError:
        value = 0
    if not 1 <= value <= 5:
        raise ValidationError("choose a score from 1 to 5", code="survey_score")
    text = (comment or "").strip()
    if len(text) > COMMENT_MAX_LENGTH:
        raise ValidationError(
            f"the comment is longer than {COMMENT_MAX_LENGTH} characters; shorten it",
            code="survey_comment_too_long",
        )
    text = pan.redact(text)
    try:
        with ctx.db.transaction() as s:
            payment = s.get(Payment, payment_id)
            if payment is None or payment.status not in SUCCESSFUL:
                raise NotFound(_INVALID, code="survey_link_invalid")
            if s.scalar(select(CsatAnswer.id).where(CsatAnswer.payment_id == payment_id)):
                raise _answered()
            s.add(
                CsatAnswer(payment_id=payment_id, score=value, comment=text, created_at=ctx.now())
            )
            s.flush()
            customer = s.get(Customer, payment.customer_id)
            assert customer is not None
            receipt = s.scalars(
                select(ReceiptRow.number).where(
                    ReceiptRow.payment_id == payment_id, ReceiptRow.kind == "payment"
                )
            ).first()
            said = f' "{text}"' if text else ""
            crm_timeline_note(
                s,
                ctx,
                customer,
                key=f"csat:{payment_id}",
                text=f"Satisfaction survey for payment {payment_id}"
                f"{f' (receipt {receipt})' if receipt else ''}: {value} out of 5.{said}",
            )
            audit.record(
                s,
                ctx,
                actor="customer",
                action="csat.answered",
                subject=payment_id,
                data={"score": value},
            )
    except IntegrityError:  # two answers at the same moment: the other one won
        raise _answered() from None
    return {"payment_id": payment_id, "score": value}


def _answered() -> Conflict:
    return Conflict(
        "this payment's survey has been answered already; thank you, one answer is enough",
        code="survey_answered",
    )


def csat_figures(session: Any, *, start: datetime, end: datetime) -> dict[str, Any]:
    """Answers given in ``[start, end)``: how many, their average (None without any) and
    how many gave each score: ``{"count", "average", "distribution": {1: n, ..., 5: n}}``."""
    rows = session.execute(
        select(CsatAnswer.score, func.count())
        .where(CsatAnswer.created_at >= start, CsatAnswer.created_at < end)
        .group_by(CsatAnswer.score)
    ).all()
    distribution = {score: 0 for score in range(1, 6)}
    for score, n in rows:
        distribution[int(score)] = int(n)
    count = sum(distribution.values())
    total = sum(score * n for score, n in distribution.items())
    return {
        "count": count,
        "average": round(total / count, 2) if count else None,
        "distribution": distribution,
    }
