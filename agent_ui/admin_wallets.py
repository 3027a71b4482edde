"""Admin page for the wallets the pay page offers: for each merchant account (named by
its currency), which of Apple Pay, Google Pay, PayPal and Venmo customers may pay with.

Under ``{prefix}/admin/wallets/``; the admin role, as the rest of the admin console, and
the POST carries the session's CSRF token (checked app-wide by ``agent_ui.auth``). One
form per merchant account: the boxes ticked are the wallets offered; a save that
changes something is audited by :func:`crm_pay.services.wallets.set_wallets`. Entry
points only.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.domain.wallets import WALLET_NAMES, WALLETS
from crm_pay.services import wallets

from .auth import protect, signed_in_principal
from .console_session import flash

__all__ = ["bp"]

bp = Blueprint("crm_pay_admin_wallets", __name__, template_folder="templates")
protect(bp, "admin")


@bp.get("/")
def index() -> str:
    return render_template(
        "crm_pay/admin_wallets.html",
        offers=wallets.wallet_offers(get_context()),
        wallets=[(w, WALLET_NAMES[w]) for w in WALLETS],
    )


@bp.post("/<account>")
def save(account: str) -> Response:
    chosen = request.form.getlist("wallet")
    try:
        offered = wallets.set_wallets(
            get_context(),
            merchant_account=account,
            wallets=chosen,
            actor=signed_in_principal().actor,
        )
    except CrmPayError as exc:
        flash(f"Nothing was saved: {exc.message}.", "warning")
    else:
        names = ", ".join(WALLET_NAMES[w] for w in offered) or "no wallet (cards only)"
        flash(f"Saved: the {account.upper()} account offers {names} on the pay page.", "notice")
    return redirect(url_for(".index"))  # type: ignore[return-value]
