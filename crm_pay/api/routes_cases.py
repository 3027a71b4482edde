"""The JSON API of cases (supervisor keys): the queue with its filters, one case, and the
supervisor's actions on it (note, assign, snooze, resolve). Entry points only: HTTP in,
``services.cases`` / ``services.case_views`` calls, JSON out; errors take the
blueprint's one shape. None of these moves money (a refund or a manual resolution of a
payment goes through the payment's own routes), so none takes an Idempotency-Key: a
repeated resolve is refused with 409 ``case_resolved``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from crm_pay.current import get_context
from crm_pay.domain.errors import NotFound, ValidationError
from crm_pay.services import case_views, cases, credits
from crm_pay.services.access import Principal

from .request_body import read_json_object, reject_unknown_fields, required_text, text_field

__all__ = ["register_case_routes", "parse_when", "case_filter"]

Guard = Callable[[str], Callable[[Callable[..., Any]], Callable[..., Any]]]
_LARGEST_ID = 2**31 - 1  # an INTEGER key: a larger id names no case (and no overflow)


def parse_when(text: str) -> datetime:
    """An ISO 8601 time with its zone (``2026-01-31T09:00:00Z``), or a clear error."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"{text[:40]!r} is not a time; write it like 2026-01-31T09:00:00Z",
            code="invalid_time",
        ) from None
    if when.tzinfo is None:
        raise ValidationError(
            "give the time with its zone, like 2026-01-31T09:00:00Z", code="invalid_time"
        )
    return when


_SNOOZED = {"1": True, "true": True, "on": True, "0": False, "false": False}


def case_filter(args: Any, principal: Principal, *, strict: bool = False) -> case_views.CaseFilter:
    """The queue's filters from query arguments (the API's and the console's).

    ``strict`` (the API): each argument at most once, none empty, ``limit`` from 1 to
    500 and ``snoozed`` one of 0/1/true/false, as the OpenAPI document says; the
    console's filter form sends its empty fields and a checkbox's "1"."""
    if strict:
        for name in _QUERY:
            values = args.getlist(name)
            if len(values) > 1:
                raise ValidationError(f"give {name} once, not {len(values)} times")
            if values and not values[0].strip():
                raise ValidationError(f"{name} is empty: leave it out or give a value")
        snoozed_text = (args.get("snoozed") or "").strip().lower()
        if snoozed_text and snoozed_text not in ("0", "1", "true", "false"):
            raise ValidationError("snoozed must be 0, 1, true or false")
        limit_text = (args.get("limit") or "").strip()
        if limit_text and limit_text.isascii() and limit_text.isdigit() and int(limit_text) < 1:
            raise ValidationError("limit must be a whole number from 1 to 500")
    assignee = (args.get("assignee") or "").strip()
    assignee_id: int | None = None
    if assignee == "me":
        assignee_id = _user_id(principal)
    elif assignee:
        assignee_id = _int(assignee, "assignee", top=999_999_999)
    older = (args.get("older_than_hours") or "").strip()
    limit = (args.get("limit") or "").strip()
    return case_views.CaseFilter(
        kind=(args.get("kind") or "").strip() or None,
        state=(args.get("state") or "").strip() or "unresolved",
        assignee_id=assignee_id,
        older_than=timedelta(hours=_int(older, "older_than_hours", top=24 * 366))
        if older
        else None,
        snoozed=_SNOOZED.get((args.get("snoozed") or "").strip().lower(), False),
        limit=_int(limit, "limit", top=500) if limit else 200,
    )


def _int(text: str, name: str, *, top: int = _LARGEST_ID) -> int:
    if not text.isascii() or not text.isdigit() or not 0 <= int(text) <= top:
        raise ValidationError(f"{name} must be a whole number from 0 to {top}")
    return int(text)


def _user_id(principal: Principal) -> int:
    if principal.kind != "user":
        raise ValidationError(
            "'me' means the signed-in user; an API key is not one. Give the user's id",
            code="not_a_user",
        )
    return principal.id


def _case_id(case_id: int) -> int:
    """The id of a case that exists (404 first: nothing in the body matters for none)."""
    if case_id > _LARGEST_ID:
        raise NotFound(f"there is no case {case_id}")
    cases.case_summary(get_context(), case_id)
    return case_id


_QUERY = ("kind", "state", "assignee", "older_than_hours", "snoozed", "limit")


def register_case_routes(bp: Blueprint, *, auth: Guard) -> None:
    """Add the case routes to the API blueprint ``bp``. ``auth`` is the blueprint's key
    check (``routes.auth``), which leaves the key's principal in ``g.crm_pay_principal``."""

    def who() -> Principal:
        return g.crm_pay_principal  # type: ignore[no-any-return]

    @bp.get("/cases")
    @auth("supervisor")
    def list_cases() -> Response:
        unknown = sorted(set(request.args) - set(_QUERY))
        if unknown:
            raise ValidationError(
                f"unknown query parameter(s) {', '.join(repr(u[:40]) for u in unknown[:5])}; "
                f"the queue takes {', '.join(_QUERY)}"
            )
        found = case_views.case_queue(get_context(), case_filter(request.args, who(), strict=True))
        return jsonify({"cases": found})

    @bp.get("/cases/<int:case_id>")
    @auth("supervisor")
    def get_case(case_id: int) -> Response:
        return jsonify(case_views.case_page(get_context(), _case_id(case_id)))

    @bp.post("/cases/<int:case_id>/notes")
    @auth("supervisor")
    def add_case_note(case_id: int) -> tuple[Response, int]:
        case_id = _case_id(case_id)
        body = read_json_object()
        reject_unknown_fields(body, ("note",))
        note = required_text(body, "note", max_length=cases.NOTE_MAX_LENGTH, example="why")
        view = cases.add_note(get_context(), case_id, actor=who().actor, note=note)
        return jsonify(view), 201

    @bp.post("/cases/<int:case_id>/assign")
    @auth("supervisor")
    def assign_case(case_id: int) -> Response:
        case_id = _case_id(case_id)
        body = read_json_object()
        reject_unknown_fields(body, ("assignee",))
        value = body.get("assignee")
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON 2.0 is the number 2
        if value == "me":
            assignee = _user_id(who())
        elif isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _LARGEST_ID:
            assignee = value
        else:
            raise ValidationError(
                "'assignee' must be \"me\" or a supervisor's user id (a whole number)",
                code="invalid_assignee",
            )
        view = cases.assign(get_context(), case_id, actor=who().actor, assignee_id=assignee)
        return jsonify(view)

    @bp.post("/cases/<int:case_id>/snooze")
    @auth("supervisor")
    def snooze_case(case_id: int) -> Response:
        case_id = _case_id(case_id)
        body = read_json_object()
        reject_unknown_fields(body, ("until", "note"))
        until = parse_when(required_text(body, "until", max_length=40, example="2026-01-31T09:00Z"))
        note = text_field(body, "note", min_length=0, max_length=cases.NOTE_MAX_LENGTH) or ""
        view = cases.snooze(get_context(), case_id, actor=who().actor, until=until, note=note)
        return jsonify(view)

    @bp.post("/cases/<int:case_id>/apply-credit")
    @auth("supervisor")
    def apply_case_credit(case_id: int) -> Response:
        case_id = _case_id(case_id)
        body = read_json_object()
        reject_unknown_fields(body, ("invoice", "amount", "note"))
        invoice = required_text(body, "invoice", max_length=100, example="INV-1001")
        amount = body.get("amount")
        if amount is not None and not isinstance(amount, str):
            raise ValidationError("amount must be a decimal string such as '12.50'")
        note = body.get("note") or ""
        if not isinstance(note, str) or len(note) > cases.NOTE_MAX_LENGTH:
            raise ValidationError(
                f"note must be text of at most {cases.NOTE_MAX_LENGTH} characters"
            )
        result = credits.apply_case_credit(
            get_context(), case_id, invoice=invoice, amount=amount, actor=who().actor, note=note
        )
        return jsonify(result)

    @bp.post("/cases/<int:case_id>/resolve")
    @auth("supervisor")
    def resolve_case(case_id: int) -> Response:
        case_id = _case_id(case_id)
        body = read_json_object()
        reject_unknown_fields(body, ("code", "note"))
        code = required_text(body, "code", max_length=40, example="refunded")
        note = required_text(body, "note", max_length=cases.NOTE_MAX_LENGTH, example="why")
        view = cases.resolve(get_context(), case_id, actor=who().actor, code=code, note=note)
        return jsonify(view)
