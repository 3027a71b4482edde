"""A connector's version history: who changed what and when, what changed since the
version before (settings, mapping, state; credentials masked), and the Test connections
run on each version. Read-only; the versions are written by ``crm_settings``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_pay.domain.errors import NotFound
from crm_pay.domain.plain_text import masked_setting
from crm_pay.persistence.models import CrmConnectorRow, CrmConnectorTest, CrmConnectorVersion

from .context import Context

__all__ = ["connector_history"]


def connector_history(ctx: Context, name: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """The connector's versions, newest first: who changed what, and when, with what
    changed since the version before (``changes``: field, before, after; values that
    look like credentials masked) and the Test connections run on each version. The
    versions table holds settings and mapping only; secrets are never copied there."""
    with ctx.db.transaction() as s:
        connector_id = s.scalar(select(CrmConnectorRow.id).where(CrmConnectorRow.name == name))
        if connector_id is None:
            raise NotFound(f"no connector {name!r}")
        rows = s.scalars(
            select(CrmConnectorVersion)
            .where(CrmConnectorVersion.connector_id == connector_id)
            .order_by(CrmConnectorVersion.version.desc())
            .limit(limit + 1)  # one more: the oldest shown is compared with its predecessor
        ).all()
        tests: dict[int, list[dict[str, Any]]] = {}
        if rows:
            for t in s.scalars(
                select(CrmConnectorTest)
                .where(
                    CrmConnectorTest.connector_id == connector_id,
                    CrmConnectorTest.version >= rows[-1].version,
                )
                .order_by(CrmConnectorTest.id)
            ):
                tests.setdefault(t.version, []).append(
                    {"ok": t.ok, "at": t.tested_at.isoformat(), "by": t.tested_by}
                )
        history = []
        for i, v in enumerate(rows[:limit]):
            before = rows[i + 1] if i + 1 < len(rows) else None
            history.append(
                {
                    "version": v.version,
                    "changed_at": v.changed_at.isoformat(),
                    "changed_by": v.changed_by,
                    "enabled": v.enabled,
                    "secrets_changed": v.secrets_changed,
                    "changes": _changes(before, v),
                    "tests": tests.get(v.version, []),
                }
            )
        return history


def _changes(
    before: CrmConnectorVersion | None, after: CrmConnectorVersion
) -> list[dict[str, str]]:
    """What ``after`` changed against ``before`` (None: the first version, all of it)."""
    out: list[dict[str, str]] = []
    for group, old, new in (
        ("setting", before.settings if before else {}, after.settings),
        ("mapping", before.mapping if before else {}, after.mapping),
    ):
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                out.append(
                    {
                        "field": f"{group} {key}",
                        "before": masked_setting(key, old[key]) if key in old else "",
                        "after": masked_setting(key, new[key]) if key in new else "",
                    }
                )
    if before is not None and before.enabled != after.enabled:
        out.append(
            {
                "field": "state",
                "before": "enabled" if before.enabled else "disabled",
                "after": "enabled" if after.enabled else "disabled",
            }
        )
    if after.secrets_changed:
        out.append({"field": "secrets", "before": "", "after": "changed (never shown)"})
    return out
