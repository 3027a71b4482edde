"""The supervisor console: the case queue (``/``: every discrepancy case, sorted by SLA
due time), one case with its customer, payment and timeline and the actions on it (note,
assign, snooze, resolve, a new pay link, resolving an unknown payment by hand), and the
daily reconciliation against the PSP (its report per day, every difference with its case,
and a button to run a day again).

Entry points only: each view reads the request, calls
``crm_pay.services.reconciliation`` and renders the answer. Every page needs the
supervisor role (admins have it too; agents get 403); the POST carries the session's CSRF
token (checked app-wide by ``agent_ui.auth``).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    redirect,
    render_template,
    request,
    url_for,
)

from crm_pay.api.routes_cases import case_filter, parse_when
from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError, NotFound, ValidationError
from crm_pay.services import (
    case_links,
    case_views,
    cases,
    credits,
    janitor,
    reconciliation,
)
from crm_pay.services.access import Principal

from .auth import protect, signed_in_principal
from .console_session import flash

__all__ = ["bp"]

bp = Blueprint("crm_pay_supervisor", __name__, template_folder="templates")


protect(bp, "supervisor")


def _principal() -> Principal:
    return signed_in_principal()


@bp.errorhandler(403)
def _forbidden(_exc: Any) -> tuple[str, int]:
    return render_template(
        "crm_pay/console_error.html",
        title="Not allowed",
        message="The supervisor console is for supervisors; ask one for access.",
    ), 403


# What each difference means and what to do, in the words of
# docs/runbooks/reconciliation.md (the table "kind / means / what to do").
_TODO = {
    "missing_in_ledger": "Find it in the Braintree control panel; if it is ours, resolve the "
    "payment; if it is a second charge, refund it.",
    "missing_at_psp": "Check the payment: a mistyped PSP id or a restored database are the "
    "usual causes.",
    "amount_mismatch": "The PSP is right about money it moved: correct our side with an "
    "adjustment.",
    "currency_mismatch": "Check the merchant account settings, then correct our side.",
    "status_mismatch": "Follow the PSP's status: void, refund or resolve the payment.",
}


_DISPUTE_TODO = (
    "Open the dispute in the Braintree control panel; replay its missing notice or book "
    "the chargeback as the disputes runbook says."
)


def _in_words(line: dict[str, Any]) -> dict[str, Any]:
    """One report line with ``what`` (the difference as a sentence) and ``todo``."""
    kind, credit = line["kind"], line["txn_kind"] == "credit"
    ours, theirs = _plain(line.get("ours")), _plain(line.get("theirs"))
    record = "refund" if credit else "payment"
    if line["txn_kind"] == "dispute":  # each side is "<amount> <kind> <status>"
        what = {
            "missing_in_ledger": f"The PSP has a dispute ({theirs}); we have no record of it.",
            "missing_at_psp": f"We hold a dispute ({ours}) the PSP does not have.",
        }.get(kind, f"We hold this dispute as {ours}; the PSP says {theirs}.")
        return {**line, "what": what, "todo": _DISPUTE_TODO}
    if kind == "missing_in_ledger" and line.get("payment_id"):
        what = f"The PSP has {_refund(credit)}{theirs} for this payment of ours, which holds "
        what += "another transaction."
    elif kind == "missing_in_ledger":
        what = f"The PSP has {_refund(credit)}{theirs}; we have no {record} for it."
    elif kind == "missing_at_psp":
        what = f"We hold {_refund(credit)}{ours} under this PSP id; the PSP does not have it."
    elif kind in ("amount_mismatch", "currency_mismatch"):
        what = f"We hold {ours}; the PSP {'refunded' if credit else 'charged'} {theirs}."
    else:  # status_mismatch: each side is "<sale|credit> <status>"
        what = f"We say {ours}; the PSP says {theirs}."
    return {**line, "what": what, "todo": _TODO.get(kind, "")}


def _plain(words: str | None) -> str:
    """``"12.34 USD submitted_for_settlement"`` → ``"12.34 USD submitted for settlement"``
    (the report keeps each side as such words)."""
    return (words or "nothing").replace("_", " ")


def _refund(credit: bool) -> str:
    return "a refund of " if credit else ""


def _yesterday() -> date:
    return get_context().now().date() - timedelta(days=1)


@bp.get("/reconciliation")
def reconciliation_page() -> tuple[str, int]:
    ctx = get_context()
    status, error, report = 200, None, None
    text = request.args.get("date", "")
    try:
        day = reconciliation.parse_day(text) if text else _yesterday()
        report = reconciliation.reconciliation_view(ctx, day)
        report["differences"] = [_in_words(d) for d in report["differences"]]
    except NotFound:
        pass
    except CrmPayError as exc:
        day, error, status = _yesterday(), exc.message, 422
    html = render_template(
        "crm_pay/supervisor_reconciliation.html",
        day=day,
        today=ctx.now().date(),
        report=report,
        error=error,
        recent=reconciliation.recent_reconciliations(ctx),
    )
    return html, status


@bp.post("/reconciliation")
def run_reconciliation() -> Response:
    ctx = get_context()
    try:
        day = reconciliation.parse_day(request.form.get("date", ""))
        report = reconciliation.reconcile(ctx, day, actor=_principal().actor)
    except CrmPayError as exc:
        flash(f"Not reconciled: {exc.message}", "warning")
        return redirect(url_for(".reconciliation_page"))  # type: ignore[return-value]
    found = len(report["differences"])
    flash(
        f"{day.isoformat()} reconciled: {report['matched']} matched, {found} "
        f"difference{'s' if found != 1 else ''}, {report['cases_opened']} new case"
        f"{'s' if report['cases_opened'] != 1 else ''}.",
        "notice" if not found else "warning",
    )
    return redirect(url_for(".reconciliation_page", date=day.isoformat()))  # type: ignore[return-value]


# -- the case queue and one case ----------------------------------------------------


@bp.get("/")
def queue() -> tuple[str, int]:
    ctx = get_context()
    args = request.args.to_dict()
    if args.get("assignee") == "mine":
        args["assignee"] = "me"
    status, error, found = 200, None, []
    try:
        found = case_views.case_queue(ctx, case_filter(args, _principal()))
    except CrmPayError as exc:
        status, error = 422, exc.message
    html = render_template(
        "crm_pay/supervisor_queue.html",
        cases=found,
        error=error,
        args=request.args,
        kinds=sorted(cases.CASE_KINDS),
        states=case_views.QUEUE_STATES,
    )
    return html, status


@bp.get("/cases/<int:case_id>")
def case(case_id: int) -> tuple[str, int]:
    ctx = get_context()
    try:
        view = case_views.case_page(ctx, _case_id(case_id))
    except NotFound as exc:
        return render_template(
            "crm_pay/console_error.html", title="No such case", message=exc.message
        ), 404
    html = render_template(
        "crm_pay/supervisor_case.html",
        case=view,
        supervisors=case_views.supervisors(ctx),
        me=_principal(),
        now=ctx.now().strftime("%Y-%m-%dT%H:%M"),
        # one Release / Decline decision per drawn page (agent_ui/supervisor_fraud.py)
        decision_key=uuid.uuid4().hex,
    )
    return html, 200


@bp.post("/cases/<int:case_id>/note")
def case_note(case_id: int) -> Response:
    note = request.form.get("note", "")
    return _act(
        case_id,
        "Note added.",
        lambda actor: cases.add_note(get_context(), case_id, actor=actor, note=note),
    )


@bp.post("/cases/<int:case_id>/assign")
def case_assign(case_id: int) -> Response:
    choice = request.form.get("assignee", "")
    me = _principal()
    if choice == "me":
        assignee = me.id
    elif choice.isascii() and choice.isdigit() and int(choice) < 2**31:
        assignee = int(choice)
    else:
        flash("Choose who takes the case: yourself or a supervisor.", "warning")
        return _to_case(case_id)
    return _act(
        case_id,
        "Case assigned.",
        lambda actor: cases.assign(get_context(), case_id, actor=actor, assignee_id=assignee),
    )


@bp.post("/cases/<int:case_id>/snooze")
def case_snooze(case_id: int) -> Response:
    text = request.form.get("until", "").strip()
    note = request.form.get("note", "")

    def snooze(actor: str) -> Any:
        # the form's field has no zone; the page says the time is UTC
        until = parse_when(text if text[-1:] in ("Z", "z") or "+" in text else f"{text}Z")
        return cases.snooze(get_context(), case_id, actor=actor, until=until, note=note)

    if not text:
        flash("Give the time until which the case is snoozed.", "warning")
        return _to_case(case_id)
    return _act(case_id, "Case snoozed.", snooze)


@bp.post("/cases/<int:case_id>/resolve")
def case_resolve(case_id: int) -> Response:
    code, note = request.form.get("code", ""), request.form.get("note", "")
    return _act(
        case_id,
        "Case resolved.",
        lambda actor: cases.resolve(get_context(), case_id, actor=actor, code=code, note=note),
    )


@bp.post("/cases/<int:case_id>/apply-credit")
def case_apply_credit(case_id: int) -> Response:
    """An overpaid case: the customer's credit pays one of their invoices (ledger only,
    no money moves) and the case is resolved with ``credit_applied``."""
    invoice, amount = request.form.get("invoice", ""), request.form.get("amount", "")
    note = request.form.get("note", "")
    return _act(
        case_id,
        "Credit applied to the invoice; the case is resolved and the customer is told.",
        lambda actor: credits.apply_case_credit(
            get_context(), case_id, invoice=invoice, amount=amount or None, actor=actor, note=note
        ),
    )


@bp.post("/cases/<int:case_id>/send-link")
def case_send_link(case_id: int) -> Response:
    """A new pay link to the case's customer (``crm_pay.services.case_links``): the
    payment's own link while it can still be paid, else a new payment of the same
    amount; for a partial case, a payment of what is still owed, and the case resolves."""
    channel = request.form.get("channel", "")
    try:
        sent = case_links.send_case_link(
            get_context(), _case_id(case_id), channel=channel, principal=_principal()
        )
    except CrmPayError as exc:
        flash(f"No link was sent: {exc.message}", "warning")
        return _to_case(case_id)
    rest = sent["rest"]
    if rest is None:
        flash(f"Pay link for payment {sent['payment_id']} sent by {channel}.", "notice")
    else:
        flash(
            f"Pay link for the rest ({rest['total']} {rest['currency']}, payment "
            f"{sent['payment_id']}) sent by {channel}; the case is resolved.",
            "notice",
        )
    return _to_case(case_id)


@bp.post("/cases/<int:case_id>/resolve-payment")
def case_resolve_payment(case_id: int) -> Response:
    """An ``unknown`` payment resolved by hand (the PSP is asked once more first)."""
    ctx = get_context()
    note = request.form.get("note", "")
    principal = _principal()
    try:
        view = case_views.case_page(ctx, _case_id(case_id))
        if view["payment"] is None:
            raise ValidationError("this case concerns no payment")
        result = janitor.resolve_unknown_by_hand(
            ctx, view["payment"]["id"], principal=principal, note=note
        )
        cases.add_note(
            ctx,
            case_id,
            actor=principal.actor,
            note=f"Payment {result['id']} resolved by hand: now {result['status']}. {note}",
        )
    except CrmPayError as exc:
        flash(f"The payment was not resolved: {exc.message}", "warning")
    else:
        flash(f"Payment resolved: it is now {result['status']}.", "notice")
    return _to_case(case_id)


def _case_id(case_id: int) -> int:
    if case_id >= 2**31:
        raise NotFound(f"no case {case_id}")
    return case_id


def _to_case(case_id: int) -> Response:
    return redirect(url_for(".case", case_id=case_id))  # type: ignore[return-value]


def _act(case_id: int, done: str, action: Any) -> Response:
    try:
        action(_principal().actor)
    except NotFound as exc:
        flash(exc.message, "warning")
        return redirect(url_for(".queue"))  # type: ignore[return-value]
    except CrmPayError as exc:
        flash(f"Not done: {exc.message}", "warning")
    else:
        flash(done, "notice")
    return _to_case(case_id)
