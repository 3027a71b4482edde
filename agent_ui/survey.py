"""Customer pages reached from a signed link in an email: the satisfaction survey
(``{prefix}/survey/<signed>``), a reminder's "pay now" page
(``{prefix}/reminders/pay/<signed>``) and the reminders opt-out
(``{prefix}/reminders/opt-out/<signed>``).

The signed link is the credential (markers ``survey link`` and ``reminder link`` in
``crm_pay/api/route_policy.py``). A GET only reads, so a mail scanner that follows a
link answers no survey, opens no pay link and opts nobody out; the customer's button
POSTs. The pages load our stylesheets and no script at all, with the pay page's
headers (no framing, no referrer, not indexed). An expired link answers 410 and a forged
one 404, each with words that say what to do.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request

from crm_pay import http_headers
from crm_pay.current import get_context
from crm_pay.domain.errors import Conflict, CrmPayError, ValidationError
from crm_pay.services import csat, reminder_links, reminder_payments

from . import i18n

__all__ = ["bp"]

bp = Blueprint("crm_pay_survey", __name__, template_folder="templates")


def _secure(resp: Response) -> Response:
    policy = http_headers.content_security_policy(
        [
            ("default-src", "'none'"),
            ("style-src", "'self'"),
            ("img-src", "'self' data:"),
            ("form-action", "'self'"),
            ("base-uri", "'none'"),
            ("frame-ancestors", "'none'"),
        ]
    )
    return http_headers.secure_page_headers(
        resp, csp=policy, referrer="no-referrer", robots="noindex"
    )


def _page(template: str, status: int = 200, **values: object) -> Response:
    view = values.get("view")
    if isinstance(view, dict):
        i18n.customer_is(view.get("customer"))  # their CRM record's language counts
    return _secure(Response(render_template(f"crm_pay/{template}", **values), status=status))


def _closed(exc: CrmPayError, title: str) -> Response:
    return _page("survey_closed.html", exc.status, title=title, message=exc.message, code=exc.code)


@bp.get("/survey/<signed>")
def survey(signed: str) -> Response:
    try:
        view = csat.open_survey(get_context(), signed)
    except CrmPayError as exc:
        return _closed(exc, "This survey link does not work")
    if view["answered"]:
        return _page("survey_thanks.html", view=view, already=True)
    return _page("survey.html", view=view, signed=signed, error=None, score="", comment="")


@bp.post("/survey/<signed>")
def answer(signed: str) -> Response:
    ctx = get_context()
    score = request.form.get("score", "")
    comment = request.form.get("comment", "")
    try:
        csat.answer_survey(ctx, signed, score=score, comment=comment)
        view = csat.open_survey(ctx, signed)
    except ValidationError as exc:
        view = csat.open_survey(ctx, signed)
        return _page(
            "survey.html",
            422,
            view=view,
            signed=signed,
            error=exc.message,
            error_code=exc.code,
            score=score,
            comment=comment[: csat.COMMENT_MAX_LENGTH],
        )
    except Conflict:
        return _page("survey_thanks.html", 409, view=csat.open_survey(ctx, signed), already=True)
    except CrmPayError as exc:
        return _closed(exc, "This survey link does not work")
    return _page("survey_thanks.html", view=view, already=False)


@bp.get("/reminders/pay/<signed>")
def reminder_pay(signed: str) -> Response:
    try:
        view = reminder_payments.reminder_payment_view(get_context(), signed)
    except CrmPayError as exc:
        return _closed(exc, "This payment link does not work")
    return _page("reminder_pay.html", view=view, signed=signed, error=None)


@bp.post("/reminders/pay/<signed>")
def reminder_pay_continue(signed: str) -> Response:
    ctx = get_context()
    try:
        answer = reminder_payments.open_reminder_payment(ctx, signed)
    except Conflict as exc:
        view = reminder_payments.reminder_payment_view(ctx, signed)
        return _page(
            "reminder_pay.html",
            409,
            view=view,
            signed=signed,
            error=exc.message,
            error_code=exc.code,
        )
    except CrmPayError as exc:
        return _closed(exc, "This payment link does not work")
    if answer["state"] == "paid":
        view = reminder_payments.reminder_payment_view(ctx, signed)
        return _page("reminder_pay.html", view=view, signed=signed, error=None)
    return _secure(redirect(answer["url"], code=303))  # type: ignore[arg-type]


@bp.get("/reminders/opt-out/<signed>")
def opt_out(signed: str) -> Response:
    try:
        reminder_links.opt_out_customer_of(get_context(), signed)
    except CrmPayError as exc:
        return _closed(exc, "This link does not work")
    return _page("reminder_opt_out.html", signed=signed, done=None)


@bp.post("/reminders/opt-out/<signed>")
def opt_out_confirm(signed: str) -> Response:
    try:
        done = reminder_links.record_opt_out(get_context(), signed)
    except CrmPayError as exc:
        return _closed(exc, "This link does not work")
    return _page("reminder_opt_out.html", signed=signed, done=done)
