"""The merchant's look on the customer pages, as the admin sets it: accent colour, logo
and the support contact customers are told to use.

Saved as versions (:class:`~crm_pay.persistence.models.MerchantBrandingVersion`,
append-only; the newest is in force), each save audited with what changed. Without any
version the pages use crm-pay's own colours and the merchant's phone and e-mail from the
configuration (``CRM_PAY_MERCHANT_PHONE`` / ``_EMAIL``). The checks are
:mod:`crm_pay.domain.branding`'s; free text is refused when it holds a card number.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from crm_pay.domain.branding import image_type, readable_accent
from crm_pay.domain.errors import NotFound, ValidationError
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import MerchantBrandingVersion
from vault import pan

from . import audit
from .context import Context

__all__ = ["Branding", "BrandingForm", "branding_in_force", "history", "logo", "save_branding"]

_EMAIL = re.compile(r"[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+")
_PHONE = re.compile(r"\+?[0-9][0-9 ()./-]{3,38}")


@dataclass(frozen=True, slots=True)
class Branding:
    """What the customer pages show. ``version`` 0: nothing saved yet."""

    version: int
    colour: str | None
    support_phone: str
    support_email: str
    support_hours: str
    logo_version: int | None  # the version whose row holds the logo in force


@dataclass(frozen=True, slots=True)
class BrandingForm:
    """What the admin submitted; ``logo`` None keeps the current logo."""

    colour: str = ""
    support_phone: str = ""
    support_email: str = ""
    support_hours: str = ""
    logo: bytes | None = None
    remove_logo: bool = False


_FIELDS = ("colour", "support_phone", "support_email", "support_hours")


def _latest(session: Session) -> MerchantBrandingVersion | None:
    return session.scalars(
        select(MerchantBrandingVersion)
        .options(
            load_only(
                *(getattr(MerchantBrandingVersion, f) for f in ("id", *_FIELDS, "logo_sha256"))
            )
        )
        .order_by(MerchantBrandingVersion.id.desc())
        .limit(1)
    ).first()


def _logo_row(session: Session, sha: str | None) -> int | None:
    if sha is None:
        return None
    return session.scalars(
        select(MerchantBrandingVersion.id)
        .where(
            MerchantBrandingVersion.logo_sha256 == sha, MerchantBrandingVersion.logo.is_not(None)
        )
        .order_by(MerchantBrandingVersion.id)
        .limit(1)
    ).first()


def branding_in_force(ctx: Context) -> Branding:
    """The newest saved branding, or the configuration's contact without one."""
    merchant = ctx.settings.merchant
    with ctx.db.transaction() as s:
        row = _latest(s)
        if row is None:
            return Branding(0, None, merchant.phone, merchant.email, "", None)
        return Branding(
            version=row.id,
            colour=row.colour,
            support_phone=row.support_phone or merchant.phone,
            support_email=row.support_email or merchant.email,
            support_hours=row.support_hours,
            logo_version=_logo_row(s, row.logo_sha256),
        )


def logo(ctx: Context, version: int) -> tuple[bytes, str]:
    """The logo stored with ``version`` and its media type (NotFound without one)."""
    with ctx.db.transaction() as s:
        row = s.get(MerchantBrandingVersion, version)
        if row is None or row.logo is None or row.logo_type is None:
            raise NotFound("there is no logo with that number")
        return row.logo, row.logo_type


def _text(name: str, value: str, limit: int) -> str:
    value = value.strip()
    if len(value) > limit:
        raise ValidationError(f"{name} is longer than {limit} characters")
    if pan.find_pans(value):
        raise ValidationError(f"{name} holds what looks like a card number; nothing was saved")
    return value


def _checked(form: BrandingForm) -> dict[str, Any]:
    phone = _text("the support phone", form.support_phone, 40)
    if phone and not _PHONE.fullmatch(phone):
        raise ValidationError(
            f"support phone {phone!r} is not a phone number: digits, spaces and + ( ) - only"
        )
    email = _text("the support e-mail", form.support_email, 200)
    if email and not _EMAIL.fullmatch(email):
        raise ValidationError(f"support e-mail {email!r} is not an e-mail address")
    return {
        "colour": readable_accent(form.colour) if form.colour.strip() else None,
        "support_phone": phone,
        "support_email": email,
        "support_hours": _text("the support hours", form.support_hours, 120),
    }


def save_branding(ctx: Context, form: BrandingForm, *, actor: str) -> int:
    """Check ``form`` and save it as the new version in force; returns its number. A
    refusal (ValidationError naming the field) saves nothing."""
    values = _checked(form)
    logo_type = image_type(form.logo) if form.logo else None
    now = ctx.now()
    with ctx.db.transaction() as s:
        before = s.scalars(
            select(MerchantBrandingVersion).order_by(MerchantBrandingVersion.id.desc()).limit(1)
        ).first()
        row = MerchantBrandingVersion(**values, saved_by=actor, saved_at=now)
        if form.logo:
            row.logo, row.logo_type = form.logo, logo_type
            row.logo_sha256 = hashlib.sha256(form.logo).hexdigest()
        elif before is not None and before.logo is not None and not form.remove_logo:
            row.logo, row.logo_type, row.logo_sha256 = (
                before.logo,
                before.logo_type,
                before.logo_sha256,
            )
        s.add(row)
        s.flush()
        # flat values only (the audit chain's rule): what changed, and the logo's hash
        changed: dict[str, Any] = {
            f: values[f] for f in _FIELDS if before is None or getattr(before, f) != values[f]
        }
        if (before.logo_sha256 if before else None) != row.logo_sha256:
            changed["logo_sha256"] = row.logo_sha256 or "removed"
        audit.record(
            s,
            ctx,
            actor=actor,
            action="branding.saved",
            subject=f"branding:{row.id}",
            data={"changed": ",".join(sorted(changed)), **changed},
        )
        return row.id


def history(ctx: Context, *, limit: int = 20) -> list[dict[str, Any]]:
    """The newest versions first: who saved what, when."""
    with ctx.db.transaction() as s:
        rows = s.scalars(
            select(MerchantBrandingVersion)
            .options(
                load_only(
                    *(
                        getattr(MerchantBrandingVersion, f)
                        for f in ("id", *_FIELDS, "logo_sha256", "saved_by", "saved_at")
                    )
                )
            )
            .order_by(MerchantBrandingVersion.id.desc())
            .limit(limit)
        ).all()
        return [
            {
                "version": r.id,
                **{f: getattr(r, f) for f in _FIELDS},
                "logo": bool(r.logo_sha256),
                "saved_by": r.saved_by,
                "saved_at": as_utc(r.saved_at),
            }
            for r in rows
        ]
