"""Admin page ``{prefix}/admin/scripts``: the pay page's script inventory (origin,
version, SRI hash, purpose, owner), the last integrity check and its outcome per
script, a "Check now" button, and the CSP violations browsers reported from the pay page.

Views only, mounted on the admin blueprint by ``agent_ui.admin`` (admin role, CSRF).
"""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, render_template, url_for

from crm_pay.current import get_context
from crm_pay.page_scripts import pay_page_scripts
from crm_pay.services import csp_reports, script_inventory

from .auth import signed_in_principal
from .console_session import flash

__all__ = ["check_scripts_now", "scripts_page"]


def _rows() -> list[dict[str, Any]]:
    """Each script with its outcome in the last check (a check of another URL, from
    before a version change, does not count)."""
    ctx = get_context()
    inventory = pay_page_scripts(ctx)
    last = script_inventory.last_check(ctx) or {"results": {}}
    rows = []
    for s in inventory.scripts if inventory else []:
        result = last["results"].get(s.name)
        if result is None or result.get("url") != s.url:
            result = {"status": "not checked"}
        rows.append({"script": s, "status": result["status"], "observed": result.get("observed")})
    return rows


def scripts_page() -> str:
    ctx = get_context()
    return render_template(
        "crm_pay/admin_scripts.html",
        rows=_rows(),
        last=script_inventory.last_check(ctx),
        violations=csp_reports.recent_violations(ctx),
    )


def check_scripts_now() -> Response:
    ctx = get_context()
    inventory = pay_page_scripts(ctx)
    if inventory is None:
        flash("The pay page is not mounted in this app: there are no scripts to check.", "warning")
    else:
        results = inventory.check(ctx, actor=signed_in_principal().actor)
        bad = [r.name for r in results if r.status != "ok"]
        if bad:
            flash(
                f"Not every script is as pinned: {', '.join(bad)}. See the status column; a "
                "changed script opened an alert.",
                "warning",
            )
        else:
            flash(f"All {len(results)} scripts match their pinned hashes.", "notice")
    return redirect(url_for(".scripts"))  # type: ignore[return-value]
