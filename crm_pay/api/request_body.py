"""Strict reading of API request bodies: a size limit for crm-pay's own blueprint, a
nesting limit checked before the JSON parser recurses, and typed field access that
refuses (never coerces or cuts) what the OpenAPI document does not allow.

The limit is set per request on crm-pay's blueprint only (Flask 3.1's
``request.max_content_length``): an embedding host's ``MAX_CONTENT_LENGTH`` and its own
routes stay as they are."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any, Final

from flask import Blueprint, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import RequestEntityTooLarge

from crm_pay.current import get_context
from crm_pay.domain.errors import ValidationError

__all__ = [
    "MAX_JSON_DEPTH",
    "install_body_limit",
    "read_json_object",
    "reject_unknown_fields",
    "text_field",
    "required_text",
    "choice_field",
]

# Our deepest valid body is 2 levels ({"allocations": {...}}); 32 leaves room and keeps
# Python's recursive json parser far from its recursion limit (about 1,000).
MAX_JSON_DEPTH: Final = 32

_STRUCTURE = re.compile(r'[\[\]{}"]')
# The rest of a JSON string after its opening quote. Each character matches one way only,
# so a failed match is linear; the scan stops at the first unterminated string.
_STRING_REST = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)


def _invalid_json(message: str) -> ValidationError:
    return ValidationError(message, status=400, code="invalid_json")


def _too_large(limit: int) -> ValidationError:
    return ValidationError(
        f"the request body is larger than {limit} bytes; no valid request is that large",
        status=413,
        code="request_too_large",
    )


def install_body_limit(bp: Blueprint) -> None:
    """Refuse bodies above ``CRM_PAY_MAX_BODY_BYTES`` on ``bp``'s routes with a 413,
    whether or not the client sent a Content-Length."""
    limits: dict[str, int] = {}

    @bp.record_once
    def _read_config(state: BlueprintSetupState) -> None:
        # Checked (at least 1024) by CrmPayConfig.validate; default 64 KiB.
        limits["bytes"] = get_context(state.app).config.max_body_bytes

    @bp.before_request
    def _limit_body() -> None:
        limit = limits["bytes"]
        # Bounds the read itself too: a chunked body without Content-Length stops here.
        request.max_content_length = limit
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)


def _nesting_exceeds(text: str, limit: int) -> bool:
    depth = 0
    pos = 0
    while (m := _STRUCTURE.search(text, pos)) is not None:
        char, pos = m.group(), m.end()
        if char == '"':
            rest = _STRING_REST.match(text, pos)
            if rest is None:
                return False  # unterminated string: the parser says what is wrong
            pos = rest.end()
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _refuse_constant(name: str) -> Any:
    raise _invalid_json(f'{name} is not JSON; amounts are decimal strings such as "12.34"')


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # Which of two values counts is parser-specific; refuse rather than guess.
            raise _invalid_json(f"the field {key!r} appears more than once")
        out[key] = value
    return out


def read_json_object(*, empty_means: dict[str, Any] | None = None) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 ``invalid_json`` saying what is wrong.

    ``empty_means``: what a request with no body at all stands for, where the route has a
    documented meaning for it; otherwise an empty body is refused like any non-object."""
    limit = request.max_content_length or 0  # set for this blueprint by install_body_limit
    try:
        if request.content_length is None:
            # A streamed (chunked) body: werkzeug's bounded stream stops at the limit
            # without saying whether more was sent, so reaching the limit is refusing.
            data = request.stream.read(limit + 1)
            if len(data) >= limit:
                raise _too_large(limit)
        else:
            data = request.get_data(cache=True)  # Content-Length already checked
    except RequestEntityTooLarge:
        raise _too_large(limit) from None
    if not data and empty_means is not None:
        return dict(empty_means)
    if not request.is_json:
        raise _invalid_json("send a JSON object with Content-Type: application/json")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid_json("the body is not UTF-8 encoded JSON") from None
    if _nesting_exceeds(text, MAX_JSON_DEPTH):
        raise _invalid_json(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(
            text, parse_constant=_refuse_constant, object_pairs_hook=_object_without_duplicates
        )
    except ValidationError:
        raise
    except ValueError as exc:  # JSONDecodeError, or an integer beyond Python's digit limit
        where = (
            f" (line {exc.lineno}, column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "a number is too long"
        raise _invalid_json(f"the body is not valid JSON: {message}{where}") from None
    if not isinstance(body, dict):
        raise _invalid_json(
            "send a JSON object with Content-Type: application/json, e.g. {...}, "
            f"not a JSON {type(body).__name__ if body is not None else 'null'}"
        )
    return body


def reject_unknown_fields(body: dict[str, Any], allowed: Collection[str]) -> None:
    unknown = set(body) - set(allowed)
    if unknown:
        raise ValidationError(
            f"unknown field(s): {', '.join(sorted(unknown))}; "
            f"this request takes {', '.join(sorted(allowed))}"
        )


def text_field(
    body: dict[str, Any],
    name: str,
    *,
    required: bool = False,
    min_length: int = 1,
    max_length: int,
    example: str = "",
) -> str | None:
    """``body[name]`` if it is a string of ``min_length``..``max_length`` characters;
    ``None`` when absent and not required. ``null``, numbers and booleans are refused."""
    hint = f" such as {example!r}" if example else ""
    if name not in body:
        if required:
            raise ValidationError(f"'{name}' is required (a string{hint})")
        return None
    value = body[name]
    if not isinstance(value, str):
        raise ValidationError(f"'{name}' must be a string{hint}")
    if len(value) < min_length:
        raise ValidationError(f"'{name}' must not be empty")
    if len(value) > max_length:
        # Never cut: a shortened value is not what the caller sent.
        raise ValidationError(f"'{name}' is longer than {max_length} characters")
    return value


def required_text(body: dict[str, Any], name: str, *, max_length: int, example: str = "") -> str:
    """A required, non-empty string field (see ``text_field``)."""
    value = text_field(body, name, required=True, max_length=max_length, example=example)
    assert value is not None  # text_field raises for a required field that is absent
    return value


def choice_field(
    body: dict[str, Any], name: str, choices: tuple[str, ...], *, default: str | None = None
) -> str:
    """``body[name]`` if it is one of ``choices``; ``default`` when absent (if given)."""
    words = " or ".join(f'"{c}"' for c in choices)
    if name not in body and default is not None:
        return default
    value = body.get(name)
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(f"'{name}' must be {words}")
    return value
