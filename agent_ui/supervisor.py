"""The supervisor console: the daily reconciliation against the PSP (its report per day,
every difference with its case, and a button to run a day again).

Entry points only: each view reads the request, calls
``crm_pay.services.reconciliation`` and renders the answer. Every page needs the
supervisor role (admins have it too; agents get 403); the POST carries the session's CSRF
token (checked app-wide by ``agent_ui.auth``).
"""

from __future__ import annotations

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

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError, NotFound
from crm_pay.services import reconciliation
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
