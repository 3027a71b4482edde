"""CRM connectors configured by an admin (settings, vault-encrypted secrets, mapping;
versioned), built from ``ctx.crm_kinds``; at most one enabled, through one gate for all
callers (:func:`enable_connector`). Save checks: :mod:`.crm_connector_checks`."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from sqlalchemy import select, update

from crm_pay.domain.errors import ConfigurationError, NotFound, ValidationError
from crm_pay.persistence.models import CrmConnectorRow, CrmConnectorTest, CrmConnectorVersion
from crm_pay.ports import ConnectionReport, CrmConnector
from vault.pan import redact

from . import audit, inbound
from .context import Context
from .crm_connector_checks import (
    ConnectorKind,
    check_connector_input,
    dry_build,
    takes_refresh_hook,
)
from .crm_sync_status import crm_down_message, stale_customer_notice, sync_status
from .outbox import retry_now

__all__ = [
    "ConnectorKind",
    "save_connector",
    "enable_connector",
    "OVERRIDE_REASON_MIN",
    "disable_connector",
    "connector_view",
    "list_connectors",
    "build_adapter",
    "test_connector",
    "active_config",
    "sync_status",
    "stale_customer_notice",
    "crm_down_message",
]

log = logging.getLogger("crm_pay.connectors")

_NAME = re.compile(r"[a-z][a-z0-9_-]{1,59}")
#: An Enable without a passing test needs a reason an auditor can read.
OVERRIDE_REASON_MIN = 10


def _kinds(ctx: Context) -> dict[str, ConnectorKind]:
    return ctx.crm_kinds  # kind -> ConnectorKind, filled by the wiring


def _kind(ctx: Context, kind: str) -> ConnectorKind:
    try:
        return _kinds(ctx)[kind]
    except KeyError:
        known = ", ".join(sorted(_kinds(ctx))) or "none"
        raise ValidationError(f"unknown connector kind {kind!r}; known: {known}") from None


def _secret_ctx(name: str) -> bytes:
    return f"connector:{name}".encode()


def _read_secrets(ctx: Context, row: CrmConnectorRow) -> dict[str, str]:
    if not row.secrets:
        return {}
    data: dict[str, str] = json.loads(
        ctx.keyring.decrypt_text(row.secrets, context=_secret_ctx(row.name))
    )
    return data


def save_connector(
    ctx: Context,
    *,
    name: str,
    kind: str,
    settings: dict[str, str],
    secrets: dict[str, str] | None = None,
    mapping: dict[str, str] | None = None,
    actor: str,
) -> dict[str, Any]:
    """Create or update a connector. Secrets given replace those stored; secrets left
    empty keep their stored value (the admin never sees them again in full)."""
    if not _NAME.fullmatch(name or ""):
        raise ValidationError("name: 2-60 lower-case letters, digits, '-' or '_'")
    spec = _kind(ctx, kind)
    check_connector_input(spec, settings, mapping or {})
    now = ctx.now()
    with ctx.db.transaction() as s:
        row = s.scalars(
            select(CrmConnectorRow).where(CrmConnectorRow.name == name).with_for_update()
        ).first()
        new_secrets = {k: v for k, v in (secrets or {}).items() if v}
        if row is None:
            row = CrmConnectorRow(
                name=name,
                kind=kind,
                enabled=False,
                settings={},
                mapping={},
                secrets="",
                version=0,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            stored: dict[str, str] = {}
        else:
            if row.kind != kind:
                raise ValidationError(f"connector {name} is a {row.kind} connector")
            stored = _read_secrets(ctx, row)
        merged = {**stored, **new_secrets}
        full_mapping = {**spec.default_mapping, **(mapping or {})}
        # The connector checks its own values (types, enums, mapping names) the way it
        # will when it is built for an agent: a typo is refused here, not at screen-pop.
        dry_build(spec, settings, merged, full_mapping)
        row.settings = {k: str(v) for k, v in settings.items()}
        row.mapping = full_mapping
        row.secrets = ctx.keyring.encrypt_text(json.dumps(merged), context=_secret_ctx(name))
        row.version += 1
        row.updated_at = now
        row.last_test_ok = None
        s.flush()
        s.add(
            CrmConnectorVersion(
                connector_id=row.id,
                version=row.version,
                settings=dict(row.settings),
                mapping=dict(row.mapping),
                secrets_changed=bool(new_secrets),
                enabled=row.enabled,
                changed_by=actor,
                changed_at=now,
            )
        )
        audit.record(
            s,
            ctx,
            actor=actor,
            action="connector.saved",
            subject=f"connector:{name}",
            data={"kind": kind, "version": row.version, "secrets_changed": bool(new_secrets)},
        )
        view = _view(ctx, row, merged)
        enabled = row.enabled
    if enabled:
        # New credentials or settings: whatever waited for the CRM may go through now.
        retry_now(ctx, "crm.")
    return view


def _set_enabled(
    ctx: Context,
    name: str,
    enabled: bool,
    actor: str,
    *,
    override_reason: str | None = None,
) -> dict[str, Any]:
    with ctx.db.transaction() as s:
        row = s.scalars(
            select(CrmConnectorRow).where(CrmConnectorRow.name == name).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"no connector {name!r}")
        if enabled and row.last_test_ok is not True:
            if override_reason is None:
                raise ValidationError(
                    f"connector {name} has no passing Test connection for its current "
                    "settings: run Test connection first, or enable it anyway with a reason",
                    code="connector_not_tested",
                )
            audit.record(
                s,
                ctx,
                actor=actor,
                action="connector.enable_override",
                subject=f"connector:{name}",
                data={
                    "version": row.version,
                    "reason": override_reason,
                    "last_test_ok": row.last_test_ok,
                },
            )
        if enabled:
            # One CRM per merchant: enabling one disables the others.
            s.execute(
                update(CrmConnectorRow).where(CrmConnectorRow.id != row.id).values(enabled=False)
            )
        row.enabled = enabled
        row.version += 1
        row.updated_at = ctx.now()
        s.add(
            CrmConnectorVersion(
                connector_id=row.id,
                version=row.version,
                settings=dict(row.settings),
                mapping=dict(row.mapping),
                secrets_changed=False,
                enabled=enabled,
                changed_by=actor,
                changed_at=ctx.now(),
            )
        )
        audit.record(
            s,
            ctx,
            actor=actor,
            action="connector.enabled" if enabled else "connector.disabled",
            subject=f"connector:{name}",
            data={"version": row.version},
        )
        return _view(ctx, row, _read_secrets(ctx, row))


def enable_connector(
    ctx: Context, name: str, *, actor: str, override_reason: str | None = None
) -> dict[str, Any]:
    """Enable ``name``, the one way a connector is enabled: only if its last Test
    connection passed on the settings in force (a save clears it). Without one,
    ``override_reason`` (at least ``OVERRIDE_REASON_MIN`` characters) enables it
    anyway, audited as ``connector.enable_override`` with the reason. Enabling one
    disables the others; the CRM backlog is retried at once."""
    if override_reason is not None:
        override_reason = " ".join(override_reason.split())
        if len(override_reason) < OVERRIDE_REASON_MIN:
            raise ValidationError(
                f"override reason: say why the connector must be enabled untested "
                f"(at least {OVERRIDE_REASON_MIN} characters)",
                code="override_reason_required",
            )
        if len(override_reason) > 500:
            raise ValidationError("override reason: at most 500 characters")
        inbound.refuse_card_number(
            override_reason, what="the override reason", code="card_number_in_reason"
        )
    view = _set_enabled(ctx, name, True, actor, override_reason=override_reason)
    retry_now(ctx, "crm.")  # the backlog goes to the newly enabled CRM at once
    return view


def disable_connector(ctx: Context, name: str, *, actor: str) -> dict[str, Any]:
    return _set_enabled(ctx, name, False, actor)


def _view(ctx: Context, row: CrmConnectorRow, secrets: dict[str, str]) -> dict[str, Any]:
    spec = _kinds(ctx).get(row.kind)
    names = [f["name"] for f in spec.secret_fields] if spec else sorted(secrets)
    return {
        "name": row.name,
        "kind": row.kind,
        "enabled": row.enabled,
        "version": row.version,
        "settings": dict(row.settings),
        "mapping": dict(row.mapping),
        # never shown again in full: only whether each secret is set
        "secrets": {n: ("set" if secrets.get(n) else "not set") for n in names},
        "last_test": (
            {
                "ok": row.last_test_ok,
                "checks": row.last_test_report or [],
                "at": row.last_test_at.isoformat() if row.last_test_at else None,
            }
            if row.last_test_ok is not None
            else None
        ),
    }


def connector_view(ctx: Context, name: str) -> dict[str, Any]:
    with ctx.db.transaction() as s:
        row = s.scalars(select(CrmConnectorRow).where(CrmConnectorRow.name == name)).first()
        if row is None:
            raise NotFound(f"no connector {name!r}")
        return _view(ctx, row, _read_secrets(ctx, row))


def list_connectors(ctx: Context) -> list[dict[str, Any]]:
    with ctx.db.transaction() as s:
        rows = list(s.scalars(select(CrmConnectorRow).order_by(CrmConnectorRow.name)))
        return [_view(ctx, r, _read_secrets(ctx, r)) for r in rows]


def build_adapter(ctx: Context, row: CrmConnectorRow) -> CrmConnector:
    spec = _kind(ctx, row.kind)
    extra: dict[str, Any] = {}
    if takes_refresh_hook(spec):
        # OAuth CRMs (HubSpot) may rotate the refresh token: keep the new one, encrypted.
        extra["on_refresh_token"] = lambda token: store_refresh_token(ctx, row.name, token)
    try:
        adapter: CrmConnector = spec.factory(
            dict(row.settings), _read_secrets(ctx, row), dict(row.mapping), **extra
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"connector {row.name} is misconfigured: {exc}") from None
    return adapter


def store_refresh_token(ctx: Context, name: str, token: str) -> None:
    """Replace the stored refresh token of connector ``name`` (encrypted); no new
    version: the admin's settings did not change."""
    with ctx.db.transaction() as s:
        row = s.scalars(
            select(CrmConnectorRow).where(CrmConnectorRow.name == name).with_for_update()
        ).first()
        if row is None:
            return
        secrets = {**_read_secrets(ctx, row), "refresh_token": token}
        row.secrets = ctx.keyring.encrypt_text(json.dumps(secrets), context=_secret_ctx(name))
        audit.record(
            s,
            ctx,
            actor="crm",
            action="connector.token_rotated",
            subject=f"connector:{name}",
            data={},
        )


def active_config(ctx: Context) -> tuple[int, int] | None:
    """(id, version) of the enabled connector, or None to use the configured default."""
    with ctx.db.transaction() as s:
        row = s.execute(
            select(CrmConnectorRow.id, CrmConnectorRow.version).where(CrmConnectorRow.enabled)
        ).first()
    return (int(row[0]), int(row[1])) if row else None


def load_row(ctx: Context, connector_id: int) -> CrmConnectorRow:
    with ctx.db.transaction() as s:
        row = s.get(CrmConnectorRow, connector_id)
        if row is None:
            raise NotFound(f"no connector {connector_id}")
        s.expunge(row)
        return row


def test_connector(ctx: Context, name: str, *, actor: str = "admin") -> ConnectionReport:
    """Run the adapter's own checks and keep the answer for the admin page."""
    with ctx.db.transaction() as s:
        row = s.scalars(select(CrmConnectorRow).where(CrmConnectorRow.name == name)).first()
        if row is None:
            raise NotFound(f"no connector {name!r}")
        s.expunge(row)
    try:
        report = build_adapter(ctx, row).test_connection()
    except ConfigurationError as exc:
        # A refused target was never connected to: the policy's reason, no answer text.
        check = "outbound URL policy" if exc.code == "outbound_url_refused" else "configuration"
        report = ConnectionReport(ok=False, checks=((check, False, exc.message),))
    except Exception as exc:  # noqa: BLE001 - the admin gets the answer, not a 500
        report = ConnectionReport(ok=False, checks=(("connection", False, _plain(exc)),))
    # What a CRM answered is kept and shown: a card number in it is blanked first.
    checks = [[name, ok, redact(str(detail))] for name, ok, detail in report.checks]
    with ctx.db.transaction() as s:
        stored = s.scalars(
            select(CrmConnectorRow).where(CrmConnectorRow.id == row.id).with_for_update()
        ).one()
        s.add(
            CrmConnectorTest(
                connector_id=row.id,
                version=row.version,
                ok=report.ok,
                checks=checks,
                tested_by=actor,
                tested_at=ctx.now(),
            )
        )
        # Saved meanwhile: this answer was for the settings before, it passes no gate.
        unchanged = (
            stored.settings == row.settings
            and stored.mapping == row.mapping
            and stored.secrets == row.secrets
        )
        if unchanged:
            stored.last_test_ok = report.ok
            stored.last_test_at = ctx.now()
            stored.last_test_report = checks
        audit.record(
            s,
            ctx,
            actor=actor,
            action="connector.tested",
            subject=f"connector:{name}",
            data={"ok": report.ok, "version": row.version},
        )
    return report


def _plain(exc: Exception) -> str:
    crm_message = getattr(exc, "crm_message", "")
    text = f"{exc}" + (f" (CRM said: {crm_message})" if crm_message else "")
    return text[:500]
