"""CRM connectors configured by an admin: settings, vault-encrypted secrets and field
mapping, versioned; at most one enabled. Adapters are built by the wiring code from a
registry of kinds it places in ``ctx.crm_kinds``."""

from __future__ import annotations

import difflib
import inspect
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from crm_pay.domain.errors import ConfigurationError, CrmPayError, NotFound, ValidationError
from crm_pay.domain.plain_text import readable_error
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import (
    CrmConnectorRow,
    CrmConnectorTest,
    CrmConnectorVersion,
    Customer,
    OutboxMessage,
)
from crm_pay.ports import ConnectionReport, CrmConnector
from vault.pan import redact

from . import audit, inbound
from .context import Context
from .outbox import retry_now

__all__ = [
    "ConnectorKind",
    "save_connector",
    "enable_connector",
    "enable_after_test",
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


@dataclass(frozen=True)
class ConnectorKind:
    """What the admin form needs to know about a kind of CRM, and how to build one."""

    kind: str
    label: str
    factory: Any  # (settings, secrets, mapping) -> CrmConnector
    settings_fields: tuple[dict[str, Any], ...] = ()
    secret_fields: tuple[dict[str, Any], ...] = ()
    default_mapping: dict[str, str] = field(default_factory=dict)
    # (settings) -> None, raising ConfigurationError: e.g. the outbound URL policy.
    check_settings: Any = None


def _kinds(ctx: Context) -> dict[str, ConnectorKind]:
    kinds: dict[str, ConnectorKind] = ctx.crm_kinds
    return kinds


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
    required = [f["name"] for f in spec.settings_fields if f.get("required")]
    missing = [n for n in required if not str(settings.get(n, "")).strip()]
    if missing:
        raise ValidationError(f"required setting(s) missing: {', '.join(missing)}")
    allowed = {f["name"] for f in spec.settings_fields}
    unknown = set(settings) - allowed
    if unknown:
        raise ValidationError(f"unknown setting(s) for {kind}: {', '.join(sorted(unknown))}")
    for group, values in (("setting", settings), ("field mapping", mapping or {})):
        for key, value in values.items():
            inbound.refuse_card_number(
                f"{key} {value}", what=f"{group} {key!r}", code="card_number_in_setting"
            )
    _check_choices(spec, settings)
    _check_mapping_keys(spec, mapping or {})
    if spec.check_settings is not None:
        try:  # refused on save, not first at the next delivery
            spec.check_settings(settings)
        except ConfigurationError as exc:
            raise ValidationError(exc.message) from None
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
        _dry_build(spec, settings, merged, full_mapping)
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


def _check_choices(spec: ConnectorKind, settings: dict[str, str]) -> None:
    for f in spec.settings_fields:
        choices = tuple(f.get("choices") or ())
        value = str(settings.get(f["name"], "")).strip()
        if choices and value and value not in choices:
            label = f.get("label") or f["name"]
            raise ValidationError(
                f"setting {f['name']!r} ({label}) is {value!r}; use one of: {', '.join(choices)}"
            )


def _check_mapping_keys(spec: ConnectorKind, mapping: dict[str, str]) -> None:
    """Mapping keys are the kind's own (its default mapping); anything else is a typo."""
    known = sorted(spec.default_mapping)
    unknown = sorted(set(mapping) - set(known))
    if not unknown:
        return
    if not known:
        raise ValidationError(
            f"the {spec.label} connector takes no field mapping; remove: {', '.join(unknown)}"
        )
    hints = []
    guessed = True
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        hints.append(f"{key} (did you mean {close[0]}?)" if close else key)
        guessed = guessed and bool(close)
    # The whole list only when a key looks like none of them.
    listed = "" if guessed else f"; known keys: {', '.join(known)}"
    raise ValidationError(
        f"unknown field mapping key(s) for {spec.label}: {', '.join(hints)}{listed}"
    )


def _dry_build(
    spec: ConnectorKind, settings: dict[str, str], secrets: dict[str, str], mapping: dict[str, str]
) -> None:
    """Build the adapter without using it (no network call) and close it again."""
    # A dry build never refreshes a token; a factory that needs the hook gets a no-op.
    extra = {"on_refresh_token": lambda token: None} if _takes_refresh_hook(spec) else {}
    try:
        adapter = spec.factory(dict(settings), dict(secrets), dict(mapping), **extra)
    except ConfigurationError as exc:
        raise ValidationError(f"{spec.label} refused these settings: {exc.message}") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise ValidationError(f"{spec.label} refused these settings: {exc}") from None
    closer = getattr(adapter, "close", None)
    if callable(closer):
        closer()


def _set_enabled(
    ctx: Context,
    name: str,
    enabled: bool,
    actor: str,
    *,
    gate: bool = False,
    override_reason: str | None = None,
) -> dict[str, Any]:
    with ctx.db.transaction() as s:
        row = s.scalars(
            select(CrmConnectorRow).where(CrmConnectorRow.name == name).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"no connector {name!r}")
        if gate and enabled and row.last_test_ok is not True:
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


def enable_connector(ctx: Context, name: str, *, actor: str) -> dict[str, Any]:
    """Enable ``name`` as it is (set-up code and tests). The admin console goes through
    :func:`enable_after_test`."""
    view = _set_enabled(ctx, name, True, actor)
    retry_now(ctx, "crm.")  # the backlog goes to the newly enabled CRM at once
    return view


def enable_after_test(
    ctx: Context, name: str, *, actor: str, override_reason: str | None = None
) -> dict[str, Any]:
    """Enable ``name`` only if its last Test connection passed on the settings in force
    (a save clears it). Without one, ``override_reason`` (at least
    ``OVERRIDE_REASON_MIN`` characters) enables it anyway, audited as
    ``connector.enable_override`` with the reason."""
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
    view = _set_enabled(ctx, name, True, actor, gate=True, override_reason=override_reason)
    retry_now(ctx, "crm.")
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


def _takes_refresh_hook(spec: ConnectorKind) -> bool:
    try:
        return "on_refresh_token" in inspect.signature(spec.factory).parameters
    except (TypeError, ValueError):
        return False


def build_adapter(ctx: Context, row: CrmConnectorRow) -> CrmConnector:
    spec = _kind(ctx, row.kind)
    extra: dict[str, Any] = {}
    if _takes_refresh_hook(spec):
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


def sync_status(ctx: Context, *, dead_limit: int = 50) -> dict[str, Any]:
    """Delivery to the CRM: counts by status, what is retrying, and dead letters with the
    CRM's own error, newest first."""
    with ctx.db.transaction() as s:
        counts = dict(
            s.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.topic.like("crm.%"))
                .group_by(OutboxMessage.status)
            ).all()
        )
        retrying = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.topic.like("crm.%"),
                OutboxMessage.status == "pending",
                OutboxMessage.attempts > 0,
            )
        )
        dead = s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic.like("crm.%"), OutboxMessage.status == "dead")
            .order_by(OutboxMessage.id.desc())
            .limit(dead_limit)
        ).all()
        return {
            "delivered": int(counts.get("sent", 0)),
            "pending": int(counts.get("pending", 0)),
            "retrying": int(retrying or 0),
            "dead": int(counts.get("dead", 0)),
            "dead_letters": [
                {
                    "id": m.id,
                    "topic": m.topic,
                    "key": m.ordering_key,
                    "attempts": m.attempts,
                    "error": readable_error(m.last_error),
                    "created_at": m.created_at.isoformat(),
                }
                for m in dead
            ],
        }


# An unchanged customer's copy is stamped at most once a minute (customers.py), so a
# copy is "stale" only when older than that: then the CRM's answer was not used.
_STALE_AFTER = timedelta(minutes=1, seconds=5)


def _crm_label(ctx: Context) -> str:
    with ctx.db.transaction() as s:
        name = s.scalar(select(CrmConnectorRow.name).where(CrmConnectorRow.enabled))
    return f"connector {name}" if name else f"default CRM {ctx.config.crm}"


def stale_customer_notice(ctx: Context, crm_ref: str, *, since: datetime) -> str | None:
    """What an agent's customer page says when it was built from crm-pay's own copy
    because the CRM did not answer (down, timed out, or its connector misconfigured):
    None when the copy was refreshed from the CRM for this page."""
    with ctx.db.transaction() as s:
        synced = as_utc(s.scalar(select(Customer.synced_at).where(Customer.crm_ref == crm_ref)))
    if synced is None or synced >= since - _STALE_AFTER:
        return None
    return (
        f"The CRM ({_crm_label(ctx)}) is not answering, so this is crm-pay's copy of the "
        f"customer from {synced:%Y-%m-%d %H:%M} UTC: balance and invoices may have changed "
        "since. You can still take a payment by this CRM id; it reaches the CRM when it is "
        "back. An admin can see the connector's state in the admin console."
    )


def crm_down_message(ctx: Context, exc: CrmPayError) -> str:
    """The agent's words for a customer the CRM could not give us and we have no copy of."""
    why = (
        "its connector is misconfigured"
        if isinstance(exc, ConfigurationError)
        else "it did not answer"
    )
    return (
        f"The CRM ({_crm_label(ctx)}) cannot be reached: {why}. This customer is not in "
        "crm-pay yet, so their balance and invoices cannot be shown and no payment can be "
        "taken for them until the CRM answers. Customers opened before can still be "
        "opened by their CRM id. Try again in a moment; an admin has the details in the "
        "admin console."
    )
