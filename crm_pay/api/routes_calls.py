"""Entry points only: calls handed to agents, for the console's screen-pop (issue 12).

- ``POST {prefix}/api/v1/calls`` (API blueprint; an API key whose role allows
  ``calls.notify``: the telephony platform's key, role ``telephony``):
  ``{"caller", "agent", "call_sid", "crm_id"?}``. 202 with the customers the caller's
  number matched, 200 for a replay of the same call SID for the same agent (nothing
  stored twice).
- ``POST {prefix}/telephony/twilio/taskrouter`` (webhook blueprint: no key, no CSRF;
  Twilio's ``X-Twilio-Signature`` over the exact URL we gave it and the form is the
  credential, checked by the telephony adapter): TaskRouter's Event Callback. A call
  handed to an agent (``reservation.accepted``) pops it; any other event is ignored.
  Every accepted event (shown, a retry, ignored) is answered 204 No Content; unsigned or
  forged: 403, nothing changes.

The rules are in :mod:`crm_pay.services.calls`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.ports import CallEvent
from crm_pay.services import calls
from crm_pay.services.access import Principal

from .errors import error_response
from .request_body import read_json_object, reject_unknown_fields, required_text, text_field
from .signed_forms import signed_callback

__all__ = ["register_call_routes", "register_taskrouter_route"]

F = TypeVar("F", bound=Callable[..., Any])

_FIELDS = ("caller", "agent", "call_sid", "crm_id")
# A TaskRouter event is a form of about twenty fields with two small JSON attributes;
# Twilio sends nothing near this large.
_MAX_EVENT_BYTES = 64 * 1024


def register_call_routes(
    bp: Blueprint,
    *,
    auth: Callable[[str | None], Callable[[F], F]],
    principal_of: Callable[[], Principal],
) -> None:
    """Add ``POST /calls`` to the API blueprint ``bp`` (``auth`` and ``principal_of``
    handed over by ``crm_pay.api.routes``, which imports this module)."""

    @bp.post("/calls")
    # No rank: the route table's calls.notify decides (crm_pay/services/policy.py), which
    # a telephony key (that ranks nowhere) and a supervisor's or admin's key may do.
    @auth(None)
    def notify_call() -> tuple[Response, int]:
        body = read_json_object()
        reject_unknown_fields(body, _FIELDS)
        event = CallEvent(
            caller=required_text(body, "caller", max_length=16, example="+12125550101"),
            agent=required_text(body, "agent", max_length=320, example="agent@example.com"),
            call_sid=required_text(body, "call_sid", max_length=34, example="CA" + "0" * 32),
            crm_id=text_field(body, "crm_id", max_length=100, example="CUST-0001"),
        )
        view = calls.receive_call(get_context(), event, actor=principal_of().actor, source="api")
        return jsonify(view.as_dict()), 200 if view.replayed else 202


def register_taskrouter_route(bp: Blueprint) -> None:
    """Add TaskRouter's Event Callback to the webhook blueprint ``bp``."""

    @bp.post(calls.TASKROUTER_PATH)
    def twilio_taskrouter() -> tuple[Response, int]:
        """One signed TaskRouter Event Callback (the workspace's EventCallbackUrl)."""
        ctx = get_context()
        callback = signed_callback(calls.taskrouter_url(ctx.settings), max_bytes=_MAX_EVENT_BYTES)
        if callback is None:
            return error_response(
                413, "request_too_large", "a TaskRouter event is never that large; not read"
            )
        try:
            calls.receive_taskrouter_event(ctx, callback)
        except CrmPayError as exc:
            return error_response(exc.status, exc.code, exc.message)
        # Twilio's TaskRouter Events reference, "Event Callbacks": respond "with 204 No
        # Content and a Content-Type header of application/json within 15 seconds"
        # (twilio.com/docs/taskrouter/api/event/reference). Nobody reads a body here:
        # the agent sees the call on the console, TaskRouter only wants the 2xx.
        return Response(status=204, content_type="application/json"), 204
