"""What an admin's connector settings must pass before they are saved: the kind's
required and known settings, its choices and field-mapping keys, no card number in any
value, the kind's own check (e.g. the outbound URL policy), and a dry build of the
adapter (its own checks, no network call).

Layer: records (beside :mod:`.idempotency`): pure checks over a :class:`ConnectorKind`,
used by :mod:`.crm_settings` when a connector is saved and built.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from typing import Any

from crm_pay.domain.errors import ConfigurationError, ValidationError

from . import inbound

__all__ = ["ConnectorKind", "check_connector_input", "dry_build", "takes_refresh_hook"]


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


def check_connector_input(
    spec: ConnectorKind, settings: dict[str, str], mapping: dict[str, str]
) -> None:
    """Refuse settings or a field mapping the kind does not take, with words that say
    which and how to fix it (nothing is stored)."""
    required = [f["name"] for f in spec.settings_fields if f.get("required")]
    missing = [n for n in required if not str(settings.get(n, "")).strip()]
    if missing:
        raise ValidationError(f"required setting(s) missing: {', '.join(missing)}")
    allowed = {f["name"] for f in spec.settings_fields}
    unknown = set(settings) - allowed
    if unknown:
        raise ValidationError(f"unknown setting(s) for {spec.kind}: {', '.join(sorted(unknown))}")
    for group, values in (("setting", settings), ("field mapping", mapping)):
        for key, value in values.items():
            inbound.refuse_card_number(
                f"{key} {value}", what=f"{group} {key!r}", code="card_number_in_setting"
            )
    _check_choices(spec, settings)
    _check_mapping_keys(spec, mapping)
    if spec.check_settings is not None:
        try:  # refused on save, not first at the next delivery
            spec.check_settings(settings)
        except ConfigurationError as exc:
            raise ValidationError(exc.message) from None


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


def dry_build(
    spec: ConnectorKind, settings: dict[str, str], secrets: dict[str, str], mapping: dict[str, str]
) -> None:
    """Build the adapter without using it (no network call) and close it again."""
    # A dry build never refreshes a token; a factory that needs the hook gets a no-op.
    extra = {"on_refresh_token": lambda token: None} if takes_refresh_hook(spec) else {}
    try:
        adapter = spec.factory(dict(settings), dict(secrets), dict(mapping), **extra)
    except ConfigurationError as exc:
        raise ValidationError(f"{spec.label} refused these settings: {exc.message}") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise ValidationError(f"{spec.label} refused these settings: {exc}") from None
    closer = getattr(adapter, "close", None)
    if callable(closer):
        closer()


def takes_refresh_hook(spec: ConnectorKind) -> bool:
    try:
        return "on_refresh_token" in inspect.signature(spec.factory).parameters
    except (TypeError, ValueError):
        return False
