"""The telephony provider's status callbacks of a keypad capture:
``POST {prefix}/telephony/twilio/status``.

On the webhook blueprint (no console session, no CSRF: the provider's signature is the
credential, checked by its adapter over the exact URL we gave it and the form). Entry
point only: the request becomes a :class:`crm_pay.ports.KeypadCallback`, the service
verifies and applies it. Answers: 200 applied; 403 unsigned or not the provider's
signature; 404 an unknown capture; 409 a replay; nothing changes on any refusal.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.services import keypad_callbacks, keypad_sessions

from .errors import error_response
from .routes_calls import register_taskrouter_route
from .signed_forms import signed_callback

__all__ = ["register_telephony_routes"]

# A status callback is a short form (about twenty fields); Twilio sends nothing larger.
_MAX_CALLBACK_BYTES = 16 * 1024


def register_telephony_routes(bp: Blueprint) -> None:
    @bp.post(keypad_sessions.STATUS_PATH)
    def twilio_status() -> tuple[Response, int]:
        """One signed status callback of a keypad capture (Twilio's StatusCallback)."""
        ctx = get_context()
        callback = signed_callback(
            keypad_sessions.status_url(ctx.settings), max_bytes=_MAX_CALLBACK_BYTES
        )
        if callback is None:
            return error_response(
                413, "request_too_large", "a status callback is never that large; not read"
            )
        try:
            view = keypad_callbacks.receive_status_callback(ctx, callback)
        except CrmPayError as exc:
            return error_response(exc.status, exc.code, exc.message)
        return jsonify({"status": view.status}), 200

    register_taskrouter_route(bp)  # TaskRouter's events: a call reached an agent
