"""Reads the admin console needs that ``crm_pay.services.connectors`` does not offer yet.

``connector_history`` belongs next to ``connector_view`` in the connectors service; when
that service grows a ``connector_history(ctx, name)`` it is used instead of the read here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_pay.domain.errors import NotFound
from crm_pay.persistence.models import CrmConnectorRow, CrmConnectorVersion
from crm_pay.services import connectors
from crm_pay.services.context import Context

__all__ = ["connector_history"]


def connector_history(ctx: Context, name: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """The connector's versions, newest first: who changed what, and when (the versions
    table holds settings and mapping only; secrets are never copied there)."""
    provided = getattr(connectors, "connector_history", None)
    if provided is not None:
        return list(provided(ctx, name))[:limit]
    with ctx.db.transaction() as s:
        connector_id = s.scalar(select(CrmConnectorRow.id).where(CrmConnectorRow.name == name))
        if connector_id is None:
            raise NotFound(f"no connector {name!r}")
        rows = s.scalars(
            select(CrmConnectorVersion)
            .where(CrmConnectorVersion.connector_id == connector_id)
            .order_by(CrmConnectorVersion.version.desc())
            .limit(limit)
        ).all()
        return [
            {
                "version": v.version,
                "changed_at": v.changed_at.isoformat(),
                "changed_by": v.changed_by,
                "enabled": v.enabled,
                "secrets_changed": v.secrets_changed,
            }
            for v in rows
        ]
