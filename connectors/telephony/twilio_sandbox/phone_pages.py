"""The virtual phone: pages for a person to play the caller in a demo.

* ``GET /_sandbox/phone``: the simulated calls (SID, from, to, agent, status, the field a
  Pay capture is asking for) and a **Place a call** form (``POST /_sandbox/phone``), which
  places a call in progress and, with a TaskRouter callback configured, tells it as
  TaskRouter's ``reservation.accepted`` (``taskrouter.py``); then shows the call's keypad.
* ``GET /_sandbox/calls/{CallSid}/phone``: the keypad (1-9, ``*``, 0, ``#``) with what the
  phone says (``prompts.py``), the keys keyed so far shown as dots (the page learns only
  how many from the stand-in), and **Hang up**. Its script (``static/phone.js``) sends
  each key to ``POST /_sandbox/calls/{CallSid}/keypad`` on this origin and nowhere else.

Every page says it is a development tool and not Twilio, as the Braintree development
sandbox's pages do, and carries a Content-Security-Policy allowing only this origin's
script and style (no inline script).
"""

from __future__ import annotations

import html
from importlib import resources

from flask import Flask, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from .switchboard import Switchboard

__all__ = ["register_phone_pages"]

LABEL = "Development tool — Twilio stand-in, not Twilio"
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_KEYS = (
    ("1", ""),
    ("2", "ABC"),
    ("3", "DEF"),
    ("4", "GHI"),
    ("5", "JKL"),
    ("6", "MNO"),
    ("7", "PQRS"),
    ("8", "TUV"),
    ("9", "WXYZ"),
    ("*", ""),
    ("0", "+"),
    ("#", ""),
)
_KEY_NAMES = {"*": "star", "#": "pound"}


def _static(name: str) -> str:
    return (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


def _page(title: str, body: str, *, script: bool = False) -> Response:
    document = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)} ({LABEL})</title>"
        "<link rel='stylesheet' href='/_sandbox/phone.css'>"
        + ("<script src='/_sandbox/phone.js' defer></script>" if script else "")
        + f"</head><body><p class='sandbox-label' role='note'>{LABEL}</p>"
        f"<main>{body}</main></body></html>"
    )
    response = Response(document, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _calls_table(switchboard: Switchboard) -> str:
    rows = []
    for call in switchboard.calls():
        sid = html.escape(call["sid"])
        asking = call["capturing"] or ("Pay session open" if call["payment_sid"] else "no")
        link = (
            f"<a href='/_sandbox/calls/{sid}/phone'>Keypad</a>"
            if call["status"] == "in-progress"
            else ""
        )
        rows.append(
            f"<tr><td><code>{sid}</code></td><td>{html.escape(call['from'])}</td>"
            f"<td>{html.escape(call['to'])}</td><td>{html.escape(call['agent'] or '')}</td>"
            f"<td>{html.escape(call['status'])}</td>"
            f"<td>{'yes: ' + html.escape(asking) if call['payment_sid'] else 'no'}</td>"
            f"<td>{link}</td></tr>"
        )
    if not rows:
        return "<p id='no-calls'>No calls yet.</p>"
    return (
        "<table id='calls'><caption>Simulated calls, newest first</caption><thead><tr>"
        "<th scope='col'>Call SID</th><th scope='col'>From</th><th scope='col'>To</th>"
        "<th scope='col'>Agent</th><th scope='col'>Status</th>"
        "<th scope='col'>Pay capture (field asked for)</th><th scope='col'>Phone</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def register_phone_pages(
    app: Flask, switchboard: Switchboard, *, default_caller: str, default_agent: str
) -> None:
    """Add the virtual phone's pages to the stand-in's app."""
    script, styles = _static("phone.js"), _static("phone.css")

    @app.get("/_sandbox/phone.js")
    def phone_js() -> Response:
        return Response(script, content_type="text/javascript; charset=utf-8")

    @app.get("/_sandbox/phone.css")
    def phone_css() -> Response:
        return Response(styles, content_type="text/css; charset=utf-8")

    @app.get("/_sandbox/phone")
    def phone() -> Response:
        taskrouter = (
            f"a call also tells TaskRouter's <code>reservation.accepted</code> to "
            f"<code>{html.escape(switchboard.taskrouter_callback)}</code>"
            if switchboard.taskrouter_callback
            else "no TaskRouter callback is configured (<code>--taskrouter-callback</code>)"
        )
        body = (
            "<h1>Virtual phone</h1>"
            "<p>Play the customer on a simulated call: place a call, then key the card on "
            "the phone's keypad when the agent starts a keypad payment. Only Braintree's "
            "published test card numbers are accepted (e.g. 4111 1111 1111 1111); no money "
            f"moves. On placing a call, {taskrouter}.</p>"
            "<h2>Place a call</h2>"
            "<form method='post' action='/_sandbox/phone' class='place-call'>"
            "<label for='caller'>Caller's number</label>"
            f"<input id='caller' name='from' type='tel' value='{html.escape(default_caller)}' "
            "required autocomplete='off'>"
            "<label for='agent'>Agent who answers (crm-pay username)</label>"
            f"<input id='agent' name='agent' type='text' value='{html.escape(default_agent)}' "
            "autocomplete='off'>"
            "<label for='called'>Number called</label>"
            "<input id='called' name='to' type='tel' value='+12125550199' autocomplete='off'>"
            "<button type='submit'>Place a call</button></form>"
            "<h2>Calls</h2>" + _calls_table(switchboard)
        )
        return _page("Virtual phone", body)

    @app.post("/_sandbox/phone")
    def place_call_form() -> BaseResponse:
        caller = (request.form.get("from") or "").strip() or default_caller
        called = (request.form.get("to") or "").strip() or "+12125550199"
        agent = (request.form.get("agent") or "").strip() or None
        call = switchboard.place_call(caller, called, agent=agent)
        return redirect(f"/_sandbox/calls/{call.sid}/phone", code=303)

    @app.get("/_sandbox/calls/<call_sid>/phone")
    def keypad_page(call_sid: str) -> Response:
        try:
            call = switchboard.view(call_sid)
        except KeyError:
            response = _page(
                "No such call",
                "<h1>No such call</h1><p><a href='/_sandbox/phone'>Back to the calls</a></p>",
            )
            response.status_code = 404
            return response
        sid = html.escape(call["sid"])
        # A digit's name is its digit (the letters are decoration); * and # are named in
        # words, as a screen reader would not read the symbols.
        keys = "".join(
            f"<button type='button' class='key' data-key='{key}'"
            + (f" aria-label='{_KEY_NAMES[key]}'>" if key in _KEY_NAMES else ">")
            + f"<span class='digit'>{html.escape(key)}</span>"
            f"<span class='letters' aria-hidden='true'>{letters}</span></button>"
            for key, letters in _KEYS
        )
        body = (
            f"<h1>Phone: call from {html.escape(call['from'])}</h1>"
            f"<div class='phone' id='phone' data-call='{sid}'>"
            "<div class='screen'>"
            f"<p class='status'>Call <code>{sid}</code>: "
            f"<span id='call-status'>{html.escape(call['status'])}</span></p>"
            "<p class='prompt-label'>The phone says:</p>"
            f"<p id='prompt' class='prompt' aria-live='polite'>{html.escape(call['prompt'])}</p>"
            "<p class='keyed'><span class='visually-hidden'>Keys entered: </span>"
            f"<span id='keyed' aria-live='off'>{'•' * int(call['keyed'])}</span></p>"
            "<p id='problem' class='problem' role='alert'></p>"
            "</div>"
            f"<div class='keypad' role='group' aria-label='Keypad'>{keys}</div>"
            "<button type='button' id='hang-up' class='hang-up'>Hang up</button>"
            "</div>"
            "<p>Keyboard: type 0-9, * and #. The digits go to this stand-in only and are "
            "shown as dots.</p>"
            "<p><a href='/_sandbox/phone'>All calls</a></p>"
        )
        return _page("Phone keypad", body, script=True)
