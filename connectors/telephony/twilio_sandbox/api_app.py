"""The stand-in's HTTP face: Twilio's REST paths for the SDK, and the caller's keypad.

REST: twilio-python builds ``{base_url}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/
Payments.json`` (create) and ``.../Payments/{Sid}.json`` (update) from
``rest/api/v2010/account/call/payment.py``, posts the parameters as a form, and
authenticates with HTTP Basic (account SID, auth token: Twilio docs "Our API: the basics",
twilio.com/docs/usage/requests-to-twilio). Create answers 201, update 200, with the
resource as JSON; refusals answer Twilio's error document (``twilio_errors.py``).

Caller (the stand-in's own, under ``/_sandbox``, for tests and the demo's keypad):

* ``POST /_sandbox/calls`` ``{"from": ..., "to": ..., "agent": ...}``: a call in progress,
  ``{"sid"}`` (with an agent, TaskRouter's ``reservation.accepted`` is sent when configured);
* ``GET /_sandbox/calls/{CallSid}``: what is being asked for (masked, counts only);
* ``POST /_sandbox/calls/{CallSid}/keypad`` ``{"keys": "4111111111111111#"}``: keys pressed;
* ``POST /_sandbox/calls/{CallSid}/silence``: the caller lets the prompt time out;
* ``POST /_sandbox/calls/{CallSid}/hangup``;
* the virtual phone's pages (``phone_pages.py``): ``GET /_sandbox/phone``,
  ``GET /_sandbox/calls/{CallSid}/phone``.

Nothing here logs a request body: the request log (``server.py``) has method, path, status.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Flask, Response, jsonify, request

from .phone_pages import register_phone_pages
from .switchboard import Switchboard
from .twilio_errors import TwilioError

__all__ = ["create_api_app"]

SANDBOX_HEADER = ("X-Sandbox", "crm-pay development telephony stand-in (not Twilio)")
_API = "/2010-04-01/Accounts/<account_sid>/Calls/<call_sid>"


def create_api_app(
    switchboard: Switchboard,
    *,
    auth_token: str,
    default_caller: str = "+12125550101",
    default_agent: str = "agent@example.com",
) -> Flask:
    app = Flask("crm_pay_twilio_sandbox")

    def twilio_error(error: TwilioError) -> Response:
        response = jsonify(error.document())
        response.status_code = error.status
        return response

    @app.errorhandler(TwilioError)
    def refused(error: TwilioError) -> Response:
        return twilio_error(error)

    @app.before_request
    def authenticate() -> Response | None:
        if not request.path.startswith("/2010-04-01/"):
            return None
        auth = request.authorization
        username = (auth.username if auth else None) or ""
        password = (auth.password if auth else None) or ""
        path_account = request.path.split("/")[3] if request.path.count("/") >= 3 else ""
        path_account = path_account.removesuffix(".json")  # the Account resource itself
        if not (
            hmac.compare_digest(username, switchboard.account_sid)
            and hmac.compare_digest(password, auth_token)
            and path_account == switchboard.account_sid
        ):
            return twilio_error(TwilioError(401, 20003, "Authenticate"))
        return None

    @app.after_request
    def mark(response: Response) -> Response:
        response.headers[SANDBOX_HEADER[0]] = SANDBOX_HEADER[1]
        return response

    @app.post(f"{_API}/Payments.json")
    def create_payment(account_sid: str, call_sid: str) -> tuple[Response, int]:
        params = request.form.to_dict()
        return jsonify(switchboard.start(call_sid, params, request.path)), 201

    @app.post(f"{_API}/Payments/<payment_sid>.json")
    def update_payment(account_sid: str, call_sid: str, payment_sid: str) -> Response:
        params = request.form.to_dict()
        return jsonify(switchboard.update(call_sid, payment_sid, params, request.path))

    # The Account resource (twilio-python rest/api/v2010/account/__init__.py: GET
    # /2010-04-01/Accounts/{Sid}.json), what crm-pay's admin Test connection fetches;
    # fields as Twilio's Account resource page documents them.
    @app.get("/2010-04-01/Accounts/<account_sid>.json")
    def fetch_account(account_sid: str) -> Response:
        return jsonify(
            {
                "sid": switchboard.account_sid,
                "friendly_name": "crm-pay development stand-in",
                "status": "active",
                "type": "Full",
                "owner_account_sid": switchboard.account_sid,
                "uri": f"/2010-04-01/Accounts/{switchboard.account_sid}.json",
            }
        )

    @app.route("/2010-04-01/<path:rest>", methods=["GET", "POST", "DELETE"])
    def not_served(rest: str) -> Response:
        raise TwilioError.not_found(request.path)

    # ---------------------------------------------------------------- the caller
    def _body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if isinstance(data, dict):
            return data
        return request.form.to_dict()

    def _problem(message: str, status: int) -> tuple[Response, int]:
        return jsonify({"error": message}), status

    @app.post("/_sandbox/calls")
    def place_call() -> tuple[Response, int]:
        body = _body()
        call = switchboard.place_call(
            str(body.get("from") or default_caller),
            str(body.get("to") or "+12125550199"),
            agent=str(body["agent"]) if body.get("agent") else None,
        )
        return jsonify({"sid": call.sid, "status": call.status}), 201

    @app.get("/_sandbox/calls/<call_sid>")
    def show_call(call_sid: str) -> Response | tuple[Response, int]:
        try:
            return jsonify(switchboard.view(call_sid))
        except KeyError:
            return _problem("no such call", 404)

    @app.post("/_sandbox/calls/<call_sid>/keypad")
    def keypad(call_sid: str) -> Response | tuple[Response, int]:
        try:
            switchboard.press(call_sid, str(_body().get("keys") or ""))
        except KeyError:
            return _problem("no such call", 404)
        except ValueError as exc:
            return _problem(str(exc), 400)
        except LookupError as exc:
            return _problem(str(exc), 409)
        return jsonify(switchboard.view(call_sid))

    @app.post("/_sandbox/calls/<call_sid>/silence")
    def silence(call_sid: str) -> Response | tuple[Response, int]:
        try:
            switchboard.silence(call_sid)
        except KeyError:
            return _problem("no such call", 404)
        except LookupError as exc:
            return _problem(str(exc), 409)
        return jsonify(switchboard.view(call_sid))

    @app.post("/_sandbox/calls/<call_sid>/hangup")
    def hang_up(call_sid: str) -> Response | tuple[Response, int]:
        try:
            switchboard.hang_up(call_sid)
        except KeyError:
            return _problem("no such call", 404)
        return jsonify(switchboard.view(call_sid))

    register_phone_pages(
        app, switchboard, default_caller=default_caller, default_agent=default_agent
    )
    return app
