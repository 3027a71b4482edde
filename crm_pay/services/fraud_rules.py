"""The fraud rules in force, and the admin's versions of them.

Layer: records (beside the payment records; the screening and the admin console call
it). Every save is a new row of :class:`~crm_pay.persistence.models.FraudRuleVersion`
(append-only, numbered 1, 2, ...); the newest is in force. No version saved means no
rules, which is how crm-pay behaved before them: every sale is one PSP call.

The charge path asks :func:`rules_in_force` on every payment, so the newest version is
read at most once every :data:`REFRESH_SECONDS` per process (and at once after a save
made by this process): a payment adds no statement for it while the copy is fresh.
Another process sees a save within :data:`REFRESH_SECONDS`.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_pay.domain.errors import Conflict, ValidationError
from crm_pay.domain.fraud import RuleSet
from crm_pay.domain.fraud_parsing import parse_rules
from crm_pay.persistence.db import Database
from crm_pay.persistence.models import FraudRuleVersion
from vault import pan

from . import audit
from .context import Context

__all__ = [
    "REFRESH_SECONDS",
    "RulesInForce",
    "rules_in_force",
    "current_version",
    "versions",
    "save_rules",
]

REFRESH_SECONDS = 5.0
NOTE_MAX_LENGTH = 500


@dataclass(frozen=True)
class RulesInForce:
    version: int  # 0: none saved yet
    rules: RuleSet


_NONE = RulesInForce(0, RuleSet())
_lock = threading.Lock()
# Per database (one app's): (monotonic time read, the rules then in force).
_cache: weakref.WeakKeyDictionary[Database, tuple[float, RulesInForce]] = (
    weakref.WeakKeyDictionary()
)


def rules_in_force(ctx: Context) -> RulesInForce:
    """The newest saved rules (a copy at most :data:`REFRESH_SECONDS` old)."""
    with _lock:
        cached = _cache.get(ctx.db)
    if cached is not None and time.monotonic() - cached[0] < REFRESH_SECONDS:
        return cached[1]
    with ctx.db.transaction() as s:
        row = _newest(s)
        found = _NONE if row is None else RulesInForce(row.version, parse_rules(row.rules))
    with _lock:
        _cache[ctx.db] = (time.monotonic(), found)
    return found


def _newest(session: Session) -> FraudRuleVersion | None:
    return session.scalars(
        select(FraudRuleVersion).order_by(FraudRuleVersion.version.desc()).limit(1)
    ).first()


def _view(row: FraudRuleVersion | None) -> dict[str, Any]:
    if row is None:
        return {"version": 0, "rules": [], "note": "", "created_by": None, "created_at": None}
    return {
        "version": row.version,
        "rules": [rule.to_dict() for rule in parse_rules(row.rules).rules],
        "note": row.note,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
    }


def current_version(ctx: Context) -> dict[str, Any]:
    """The newest version as the admin console shows it (version 0: none saved)."""
    with ctx.db.transaction() as s:
        return _view(_newest(s))


def versions(ctx: Context, *, limit: int = 20) -> list[dict[str, Any]]:
    """The saved versions, newest first."""
    with ctx.db.transaction() as s:
        rows = s.scalars(
            select(FraudRuleVersion).order_by(FraudRuleVersion.version.desc()).limit(limit)
        ).all()
        return [_view(row) for row in rows]


def save_rules(
    ctx: Context, data: object, *, actor: str, note: str, based_on: int
) -> dict[str, Any]:
    """Check ``data`` (a list of rules, see :mod:`crm_pay.domain.fraud`) and save it as
    the next version, in force from now on (this process at once, others within
    :data:`REFRESH_SECONDS`). ``based_on`` is the version the admin edited: if another
    version was saved meanwhile the save is refused (``Conflict``) rather than silently
    undoing it. Audited with the rules saved."""
    rules = parse_rules(data)  # ValidationError: nothing saved
    text = pan.redact(str(note or "")).strip()
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationError(f"the note is longer than {NOTE_MAX_LENGTH} characters; shorten it")
    stored = [rule.to_dict() for rule in rules.rules]
    try:
        with ctx.db.transaction() as s:
            newest = _newest(s)
            version = newest.version if newest is not None else 0
            if version != based_on:
                raise Conflict(
                    f"the rules were changed meanwhile (version {version}, you edited "
                    f"{based_on}); reload the page and make your change again. Nothing was "
                    "saved",
                    code="fraud_rules_changed",
                )
            row = FraudRuleVersion(
                version=version + 1,
                rules=stored,
                note=text,
                created_by=actor,
                created_at=ctx.now(),
            )
            s.add(row)
            s.flush()
            audit.record(
                s,
                ctx,
                actor=actor,
                action="fraud_rules.saved",
                subject=f"fraud_rules:{row.version}",
                # audit values are flat: the rules as their JSON text
                data={
                    "version": row.version,
                    "rules": json.dumps(stored, sort_keys=True),
                    "note": text,
                },
            )
            view = _view(row)
    except IntegrityError:
        # another admin's save took the same number first
        raise Conflict(
            "another version of the rules was saved at the same moment; reload the page "
            "and make your change again. Nothing was saved",
            code="fraud_rules_changed",
        ) from None
    with _lock:
        _cache[ctx.db] = (time.monotonic(), RulesInForce(view["version"], rules))
    return view
