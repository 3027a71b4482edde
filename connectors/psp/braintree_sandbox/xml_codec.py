"""Braintree's gateway XML dialect: dashed element names, ``type`` and ``nil`` attributes.

Requests from the SDK use underscored names (``<payment_method_nonce>``); responses use
dashes like the real gateway. Both are read the same way: names are normalised to
underscores, ``type="array"`` children become lists, ``integer``/``boolean`` are converted
and everything else stays a string, so amounts are never floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring  # building only  # noqa: S405

from defusedxml.ElementTree import fromstring

__all__ = ["Items", "XmlFormatError", "decode", "encode"]


class XmlFormatError(ValueError):
    """The request body is not XML the sandbox can read."""


@dataclass(frozen=True)
class Items:
    """Children all called ``tag``; marked ``type="array"`` unless ``typed`` is false.

    Untyped repetition is how search pages list transactions
    (``<credit-card-transactions><transaction>...</transaction>...``).
    """

    tag: str
    values: Iterable[Any]
    typed: bool = True


def encode(root: str, content: Mapping[str, Any] | Items) -> bytes:
    """Serialise ``{"a_b": ...}`` under ``<root>`` as Braintree-style XML."""
    element = Element(_dashed(root))
    _fill(element, content)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(element, encoding="utf-8")


def _fill(element: Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _fill(SubElement(element, _dashed(key)), child)
    elif isinstance(value, Items):
        if value.typed:
            element.set("type", "array")
        for item in value.values:
            _fill(SubElement(element, _dashed(value.tag)), item)
    elif value is None:
        element.set("nil", "true")
    elif isinstance(value, bool):
        element.set("type", "boolean")
        element.text = "true" if value else "false"
    elif isinstance(value, int):
        element.set("type", "integer")
        element.text = str(value)
    elif isinstance(value, datetime):
        element.set("type", "datetime")
        element.text = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif isinstance(value, date):
        element.set("type", "date")
        element.text = value.isoformat()
    else:
        element.text = str(value)


def decode(body: bytes) -> dict[str, Any]:
    """Parse a request body into ``{root_name: content}``; an empty body gives ``{}``."""
    if not body.strip():
        return {}
    try:
        root = fromstring(body)
    except Exception as exc:  # defusedxml raises several unrelated types
        raise XmlFormatError("request body is not well-formed XML") from exc
    return {_underscored(root.tag): _read(root)}


def _read(element: Element) -> Any:
    kind = element.get("type")
    children = list(element)
    if kind == "array":
        return [_read(child) for child in children]
    if children:
        result: dict[str, Any] = {}
        for child in children:
            result[_underscored(child.tag)] = _read(child)
        return result
    if element.get("nil") == "true":
        return None
    text = (element.text or "").strip()
    if kind == "integer":
        return int(text)
    if kind == "boolean":
        return text in ("true", "1")
    return text


def _dashed(name: str) -> str:
    return name.replace("_", "-")


def _underscored(name: str) -> str:
    return name.replace("-", "_")
