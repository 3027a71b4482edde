"""The admin's connector form, rendered from a connector kind and read back.

Pure translation, no I/O. Field names in the HTML: ``name``, ``setting-<field>``,
``secret-<field>`` and the mapping rows ``map_key`` / ``map_value`` (repeated, in order).
Secrets are never sent back to the browser: a secret input left blank keeps what is
stored, so the form can only tell whether one is set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConnectorForm", "parse_connector_form", "form_values", "BLANK_MAPPING_ROWS"]

# Empty key/value rows offered under the mapping, for fields the kind has no default for.
BLANK_MAPPING_ROWS = 3
_NAME = re.compile(r"[a-z][a-z0-9_-]{1,59}")
_MAP_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,99}")


@dataclass
class ConnectorForm:
    """What the admin submitted, split the way ``save_connector`` takes it, plus the
    messages to show next to the fields (``errors["form"]`` for the whole form)."""

    name: str
    settings: dict[str, str]
    secrets: dict[str, str]
    mapping: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


def _fields(spec: Any, attr: str) -> tuple[dict[str, Any], ...]:
    return tuple(getattr(spec, attr, ()) or ())


def parse_connector_form(
    spec: Any,
    form: Any,
    *,
    name: str | None = None,
    secrets_set: Mapping[str, str] | None = None,
) -> ConnectorForm:
    """Read the form (a werkzeug ``MultiDict``) for a connector of kind ``spec``.

    ``name`` is the connector being edited (None: a new one, named by the form);
    ``secrets_set`` its secrets' "set"/"not set" status, so a required secret is asked
    for only while nothing is stored."""
    chosen = name if name is not None else (form.get("name") or "").strip()
    errors: dict[str, str] = {}
    if name is None and not _NAME.fullmatch(chosen):
        errors["name"] = (
            "2 to 60 characters: lower-case letters, digits, '-' or '_', starting with a letter."
        )
    settings = {
        f["name"]: (form.get(f"setting-{f['name']}") or "").strip()
        for f in _fields(spec, "settings_fields")
    }
    for f in _fields(spec, "settings_fields"):
        if f.get("required") and not settings[f["name"]]:
            errors[f"setting-{f['name']}"] = f"{f.get('label') or f['name']} is required."
    secrets = {
        f["name"]: form.get(f"secret-{f['name']}") or "" for f in _fields(spec, "secret_fields")
    }
    stored = secrets_set or {}
    for f in _fields(spec, "secret_fields"):
        if f.get("required") and not secrets[f["name"]] and stored.get(f["name"]) != "set":
            errors[f"secret-{f['name']}"] = f"{f.get('label') or f['name']} is required."
    mapping: dict[str, str] = {}
    for key, value in zip(form.getlist("map_key"), form.getlist("map_value"), strict=False):
        key, value = key.strip(), value.strip()
        if not key and not value:
            continue
        if not key:
            errors["mapping"] = f"Mapping to {value!r}: type which of our fields it is for."
        elif not _MAP_KEY.fullmatch(key):
            errors["mapping"] = (
                f"Mapping key {key!r} is not valid: start with a letter; letters, digits, "
                "'_' and '.' only."
            )
        else:
            # An empty value is meaningful to some connectors ("not used").
            mapping[key] = value
    return ConnectorForm(chosen, settings, secrets, mapping, errors)


def form_values(
    spec: Any, view: Mapping[str, Any] | None, submitted: ConnectorForm | None
) -> dict[str, Any]:
    """What the form shows: what the admin just submitted (after an error), else the
    stored connector, else the kind's defaults. Never a secret."""
    if submitted is not None:
        settings, mapping = submitted.settings, submitted.mapping
    elif view is not None:
        settings, mapping = view["settings"], view["mapping"]
    else:
        settings, mapping = {}, dict(getattr(spec, "default_mapping", {}) or {})
    rows = [(k, str(v)) for k, v in mapping.items()] + [("", "")] * BLANK_MAPPING_ROWS
    return {
        "name": submitted.name if submitted is not None else (view or {}).get("name", ""),
        "settings": {k: str(v) for k, v in settings.items()},
        "mapping_rows": rows,
        "secrets": (view or {}).get("secrets")
        or {f["name"]: "not set" for f in _fields(spec, "secret_fields")},
    }
