"""disputes: accept or contest with evidence

Revision ID: 0014
Revises: 0013

Evidence sent for a dispute gets its own table, ``dispute_evidence`` (one row per piece,
removable while the dispute is open), instead of the JSON list ``disputes.evidence``.
The list's entries are copied into rows (a text sent before this revision kept only its
length, so its text stays empty), then the column is dropped; a downgrade writes the
rows back into the list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_disputes = sa.table("disputes", sa.column("id", sa.Integer()), sa.column("evidence", sa.JSON()))
_evidence = sa.table(
    "dispute_evidence",
    sa.column("dispute_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("psp_evidence_id", sa.String()),
    sa.column("category", sa.String()),
    sa.column("text", sa.Text()),
    sa.column("file_name", sa.String()),
    sa.column("content_type", sa.String()),
    sa.column("size_bytes", sa.Integer()),
    sa.column("sha256", sa.String()),
    sa.column("added_by", sa.String()),
    sa.column("added_at", sa.DateTime(timezone=True)),
    sa.column("removed_at", sa.DateTime(timezone=True)),
)
_TYPES = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg"}


def upgrade() -> None:
    bind = op.get_bind()
    rows = [
        _row(dispute_id, entry)
        for dispute_id, entries in bind.execute(sa.select(_disputes.c.id, _disputes.c.evidence))
        for entry in entries or []
    ]
    # Before the new table references disputes: SQLite's batch mode rebuilds the table
    # (DROP TABLE), which a foreign key pointing at it would refuse.
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_column("evidence")
    op.create_table(
        "dispute_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dispute_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("psp_evidence_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("content_type", sa.String(length=40), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_by", sa.String(length=200), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dispute_id"], ["disputes.id"], name=op.f("fk_dispute_evidence_dispute_id_disputes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_evidence")),
    )
    with op.batch_alter_table("dispute_evidence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dispute_evidence_dispute_id"), ["dispute_id"], unique=False
        )
    if rows:
        bind.execute(_evidence.insert(), rows)


def _row(dispute_id: int, entry: dict[str, Any]) -> dict[str, Any]:
    name = entry.get("name")
    suffix = "." + str(name).rsplit(".", 1)[-1].lower().replace("jpeg", "jpg") if name else ""
    stamp = entry.get("at")
    return {
        "dispute_id": dispute_id,
        "kind": entry.get("kind") or "text",
        "psp_evidence_id": str(entry.get("psp_id") or ""),
        "category": entry.get("category"),
        "text": None,
        "file_name": name,
        "content_type": _TYPES.get(suffix),
        "size_bytes": entry.get("size"),
        "sha256": entry.get("sha256"),
        "added_by": entry.get("by") or "unknown",
        "added_at": datetime.fromisoformat(stamp) if stamp else datetime.now(UTC),
        "removed_at": None,
    }


def downgrade() -> None:
    bind = op.get_bind()
    lists: dict[int, list[dict[str, Any]]] = {}
    for row in bind.execute(sa.select(_evidence).where(_evidence.c.removed_at.is_(None))):
        entry = {"kind": row.kind, "psp_id": row.psp_evidence_id, "category": row.category}
        if row.kind == "file":
            entry.update(name=row.file_name, size=row.size_bytes, sha256=row.sha256)
        else:
            entry["length"] = len(row.text or "")
        added = row.added_at if isinstance(row.added_at, datetime) else None
        entry.update(by=row.added_by, at=added.isoformat() if added else str(row.added_at))
        lists.setdefault(row.dispute_id, []).append(entry)
    with op.batch_alter_table("dispute_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dispute_evidence_dispute_id"))
    op.drop_table("dispute_evidence")  # first: rebuilding disputes below drops that table
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evidence", sa.JSON(), nullable=True))
    for (dispute_id,) in bind.execute(sa.select(_disputes.c.id)):
        bind.execute(
            _disputes.update()
            .where(_disputes.c.id == dispute_id)
            .values(evidence=lists.get(dispute_id, []))
        )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.alter_column("evidence", existing_type=sa.JSON(), nullable=False)
