"""Calls handed to agents: the console's screen-pop (issue 12).

Layer: use case (over :mod:`.customers`, :mod:`.audit` and the context). A telephony
platform reports that a call reached an agent — through the API (``POST /calls``) or its
routing engine's signed callback (Twilio TaskRouter, read by the telephony adapter's
:class:`~crm_pay.ports.CallEvents`). :func:`receive_call` checks the event, matches the
caller's number to CRM customers (the CRM id the platform sent first), remembers the
call (its Call SID prefills the keypad payment), audits it and pushes ``incoming_call``
to that agent's consoles only (``ctx.publish_to_agent``; the live publisher's whitelist
checks it again). The same call SID for the same agent again is a replay: nothing is
stored or audited twice, the first answer is returned and the banner shown again.

No CRM call runs with a transaction open; while the CRM does not answer, crm-pay's own
copy of the customers it has seen is searched instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crm_pay.domain.errors import (
    ConfigurationError,
    CrmUnavailable,
    Forbidden,
    NotFound,
    ValidationError,
    WebhookRejected,
)
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import CallRecord, Customer, User
from crm_pay.ports import CallEvent, CallEvents, CrmCustomer, KeypadCallback, capability

from . import audit, inbound
from .context import Context, Settings
from .customers import E164, crm_call, find_by_phone, screened, summary

__all__ = [
    "CALL_SID",
    "CALL_TTL",
    "SOURCES",
    "TASKROUTER_PATH",
    "CallMatch",
    "CallView",
    "current_call",
    "receive_call",
    "receive_taskrouter_event",
    "taskrouter_url",
]

#: Twilio's Call SID: ``CA`` and 32 hex digits (the pattern of Twilio's OpenAPI spec).
CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
#: A call stays the agent's current call (prefilled for a keypad payment) this long.
CALL_TTL = timedelta(hours=2)
#: Who may report a call: the API, or Twilio TaskRouter's event callback.
SOURCES = ("api", "twilio_taskrouter")
#: Where Twilio TaskRouter posts its Event Callbacks (the workspace's EventCallbackUrl).
TASKROUTER_PATH = "/telephony/twilio/taskrouter"
# A pick list, not a report (as the console's search).
_MAX_MATCHES = 20


@dataclass(frozen=True, slots=True)
class CallMatch:
    """A customer the caller's number (or the platform's CRM id) matched."""

    crm_ref: str
    name: str
    url: str  # the console's page of the customer, with the call SID

    def as_dict(self) -> dict[str, str]:
        return {"crm_ref": self.crm_ref, "name": self.name, "url": self.url}


@dataclass(frozen=True, slots=True)
class CallView:
    """A call as the API and the console show it."""

    call_sid: str
    caller: str
    agent: str
    matches: tuple[CallMatch, ...]
    received_at: datetime
    expires_at: datetime
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "call_sid": self.call_sid,
            "caller": self.caller,
            "agent": self.agent,
            "matches": [m.as_dict() for m in self.matches],
            "received_at": self.received_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "replayed": self.replayed,
        }

    def live_event(self) -> dict[str, Any]:
        """The ``incoming_call`` event of this call (the publisher whitelists it)."""
        return {
            "caller": self.caller,
            "call_sid": self.call_sid,
            "matches": [m.as_dict() for m in self.matches],
        }


def taskrouter_url(settings: Settings) -> str:
    """The exact public URL TaskRouter posts its Event Callbacks to (and signs)."""
    return f"{settings.public_url.rstrip('/')}{settings.url_prefix.rstrip('/')}{TASKROUTER_PATH}"


def _customer_page(ctx: Context) -> Callable[[str, str], str]:
    """Where the banner's links go: the console's customer page, wherever the app
    mounted the console (``ctx.customer_page``, set by the web layer)."""
    if ctx.customer_page is None:
        raise ConfigurationError(
            "no agent console is mounted, so an incoming call has no page to open; "
            "register crm-pay's web pages (CrmPay.init_app does) before reporting calls"
        )
    return ctx.customer_page


def _checked(event: CallEvent) -> tuple[str, str, str, str | None]:
    """The event's caller, agent, call SID and CRM id, or ``ValidationError`` in words."""
    caller = event.caller.strip() if isinstance(event.caller, str) else ""
    if not E164.fullmatch(caller):
        raise ValidationError(
            "'caller' must be the caller's number in E.164 form, e.g. +12125550101",
            code="invalid_caller",
        )
    inbound.refuse_card_number(caller, what="the caller's number", code="card_number_in_caller")
    call_sid = event.call_sid.strip() if isinstance(event.call_sid, str) else ""
    if not CALL_SID.fullmatch(call_sid):
        raise ValidationError(
            "'call_sid' must be the provider's Call SID: CA followed by 32 hex digits",
            code="invalid_call_sid",
        )
    agent = event.agent.strip().lower() if isinstance(event.agent, str) else ""
    if not agent or len(agent) > 320:
        raise ValidationError(
            "'agent' must be the crm-pay username (sign-in email) of the agent who took the call",
            code="invalid_agent",
        )
    crm_id = event.crm_id.strip() if isinstance(event.crm_id, str) else None
    if crm_id is not None:
        if not crm_id or len(crm_id) > 100:
            raise ValidationError("'crm_id' must be 1 to 100 characters", code="invalid_crm_id")
        inbound.refuse_card_number(
            crm_id, what="the customer's CRM id", code="card_number_in_customer_ref"
        )
    return caller, agent, call_sid, crm_id


def _agent(ctx: Context, username: str) -> tuple[int, str]:
    """The active console user named ``username``: (id, email)."""
    with ctx.db.transaction() as s:
        user = s.scalars(select(User).where(func.lower(User.email) == username)).first()
        if user is None:
            raise NotFound(
                f"no crm-pay user {username!r}: the agent must be the username (sign-in email) "
                "of a console user; nothing was shown to anyone",
                code="unknown_agent",
            )
        if not user.active:
            raise NotFound(
                f"the crm-pay user {username!r} is deactivated; nothing was shown to anyone",
                code="unknown_agent",
            )
        return user.id, user.email


def _known(ctx: Context, *, crm_ref: str | None = None, phone: str | None = None) -> list[Any]:
    """crm-pay's own copy of the customers it has seen, by CRM id or by phone number:
    what answers while the CRM does not."""
    query = select(Customer).order_by(Customer.crm_ref).limit(_MAX_MATCHES)
    query = query.where(Customer.crm_ref == crm_ref if crm_ref else Customer.phone == phone)
    with ctx.db.transaction() as s:
        return [summary(CrmCustomer(c.crm_ref, c.name, c.email, c.phone)) for c in s.scalars(query)]


def _matches(ctx: Context, caller: str, crm_id: str | None) -> list[dict[str, Any]]:
    """The customers of the call: the platform's CRM id when the CRM knows it, else
    everyone with the caller's number."""
    if crm_id is not None:
        try:
            found = crm_call("find_customer", ctx.crm.find_customer, crm_id)
            by_id = screened(ctx, [found]) if found is not None else []
        except (CrmUnavailable, ConfigurationError):
            by_id = _known(ctx, crm_ref=crm_id)
        if by_id:
            return by_id
    try:
        return find_by_phone(ctx, caller)[:_MAX_MATCHES]
    except (CrmUnavailable, ConfigurationError):
        return _known(ctx, phone=caller)


def _view(row: CallRecord, agent: str, *, replayed: bool) -> CallView:
    received, expires = as_utc(row.received_at), as_utc(row.expires_at)
    assert received is not None and expires is not None
    return CallView(
        call_sid=row.call_sid,
        caller=row.caller,
        agent=agent,
        matches=tuple(
            CallMatch(str(m["crm_ref"]), str(m["name"]), str(m["url"])) for m in row.matches
        ),
        received_at=received,
        expires_at=expires,
        replayed=replayed,
    )


def _stored(ctx: Context, call_sid: str, user_id: int, agent: str) -> CallView | None:
    with ctx.db.transaction() as s:
        row = s.scalars(
            select(CallRecord).where(
                CallRecord.call_sid == call_sid, CallRecord.agent_user_id == user_id
            )
        ).first()
        return _view(row, agent, replayed=True) if row is not None else None


def receive_call(ctx: Context, event: CallEvent, *, actor: str, source: str = "api") -> CallView:
    """A call reached ``event.agent``: match, remember, audit, pop it on their console.

    Raises ``ValidationError`` (422) for a caller, call SID, agent or CRM id that is not
    one, ``NotFound`` (404, ``unknown_agent``) for an agent who is no active console
    user; then nothing is stored and nobody is told. A replay (same call SID, same
    agent) returns the first answer with ``replayed`` set and stores nothing."""
    if source not in SOURCES:
        raise ValueError(f"unknown call source {source!r}")
    caller, username, call_sid, crm_id = _checked(event)
    user_id, agent = _agent(ctx, username)
    view = _stored(ctx, call_sid, user_id, agent)
    if view is None:
        page = _customer_page(ctx)
        found = _matches(ctx, caller, crm_id)  # the CRM answers with no transaction open
        matches = [
            {"crm_ref": m["crm_ref"], "name": m["name"] or m["crm_ref"]}
            | {"url": page(m["crm_ref"], call_sid)}
            for m in found
        ]
        now = ctx.now()
        try:
            with ctx.db.transaction() as s:
                row = CallRecord(
                    call_sid=call_sid,
                    agent_user_id=user_id,
                    caller=caller,
                    crm_ref=crm_id,
                    matches=matches,
                    source=source,
                    received_by=actor[:200],
                    received_at=now,
                    expires_at=now + CALL_TTL,
                )
                s.add(row)
                s.flush()
                audit.record(
                    s,
                    ctx,
                    actor=actor,
                    action="call.received",
                    subject=f"call:{call_sid}",
                    data={
                        "agent": agent,
                        "caller": caller,
                        "crm_id": crm_id,
                        "matches": ",".join(m["crm_ref"] for m in matches)[:500],
                        "source": source,
                    },
                )
                view = _view(row, agent, replayed=False)
        except IntegrityError:  # the same event twice at once: the other copy stored it
            view = _stored(ctx, call_sid, user_id, agent)
            if view is None:
                raise
    # Shown again on a replay too: the console keys its banner by call SID, and the
    # first push may have reached no socket (the agent's page was reloading).
    ctx.publish_to_agent(user_id, view.live_event())
    return view


def receive_taskrouter_event(ctx: Context, callback: KeypadCallback) -> CallView | None:
    """One TaskRouter Event Callback: verified by the telephony adapter first (unsigned,
    forged or not set up: ``Forbidden``, nothing changes), then, when it hands a call to
    an agent (``reservation.accepted``), :func:`receive_call`. Other events: None."""
    try:
        events = capability(ctx.telephony, CallEvents) if ctx.telephony is not None else None
    except ConfigurationError as exc:  # e.g. the auth token is not in the vault
        raise Forbidden(
            f"TaskRouter events cannot be verified: {exc.message}", code="webhook_rejected"
        ) from None
    if events is None:
        raise Forbidden(
            "TaskRouter events cannot be verified: Twilio is not set up "
            "(CRM_PAY_TWILIO_ACCOUNT_SID and the vault's 'telephony.twilio.auth_token')",
            code="webhook_rejected",
        )
    try:
        event = events.parse_call_event(callback)
    except WebhookRejected as exc:
        raise Forbidden(exc.message, code="webhook_rejected") from None
    if event is None:
        return None
    return receive_call(ctx, event, actor="telephony:twilio:taskrouter", source="twilio_taskrouter")


def current_call(ctx: Context, user_id: int) -> CallView | None:
    """The agent's latest call that has not expired (for the keypad payment's Call SID)."""
    with ctx.db.transaction() as s:
        row = s.scalars(
            select(CallRecord)
            .where(CallRecord.agent_user_id == user_id, CallRecord.expires_at > ctx.now())
            .order_by(CallRecord.received_at.desc(), CallRecord.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        agent = s.scalars(select(User.email).where(User.id == user_id)).first() or ""
        return _view(row, agent, replayed=False)
