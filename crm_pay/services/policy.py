"""Authorization in one place: may principal P do action A (to object O)?

Every guard in the web layer (console/admin/supervisor blueprints, the API's key check,
live rooms) asks :func:`may`; the route table (``crm_pay/api/route_policy.py``) names
the action each Flask endpoint needs. Keeping the rules here, not spread over
decorators, is what lets one test walk every route x every principal
(tests/integration/test_route_policy_matrix.py) and docs/security/authorization.md
list them truthfully.

Non-role holders (pay-link, portal-link, CRM launch, PSP webhook) are not principals
with a role: their routes are marked in the route table and checked by the token or
signature itself.
"""

from __future__ import annotations

from typing import Any, Protocol

from crm_pay.domain.errors import Forbidden
from crm_pay.domain.roles import API_KEY_ROLES, ROLES

__all__ = [
    "ACTIONS",
    "API_KEY_ROLES",
    "KEY_ONLY_ACTIONS",
    "OWNED",
    "ROLES",
    "has_role",
    "may",
    "require",
    "require_role",
    "min_role",
    "owns",
]


# action -> the lowest role that may do it. Object rules are in _OBJECT_RULES.
ACTIONS: dict[str, str] = {
    "console.use": "agent",
    "customer.view": "agent",
    "payment.create": "agent",
    "payment.view": "agent",
    "payment.cancel": "agent",
    "payment.refund": "agent",
    "payment.send_link": "agent",
    "payment.take_by_keypad": "agent",  # steer a keypad capture on the customer's call
    "payment.resolve": "supervisor",
    "receipt.view": "agent",
    "receipt.resend": "agent",
    "live.join_payment_room": "agent",
    "account.security": "agent",
    "refund.create": "agent",  # the payment in the body: theirs, or a supervisor
    "refund.view": "agent",  # an agent's own payments' refunds; supervisors all
    "manual_payment.create": "agent",  # recorded only: booked after a supervisor approves
    "manual_payment.view": "agent",
    "adjustment.request": "agent",  # write-off / adjustment, booked after approval
    "approval.view": "agent",  # an agent's own requests; supervisors all
    "approval.decide": "supervisor",  # never one's own request (services/approvals.py)
    "reconciliation.view": "supervisor",
    "reconciliation.run": "supervisor",
    "case.view": "supervisor",
    "case.work": "supervisor",
    "dispute.view": "supervisor",
    "dispute.answer": "supervisor",
    "dashboard.view": "supervisor",
    # The telephony platform's key reports calls handed to agents (the screen-pop): it
    # pops a banner on any agent's console, so not every agent's key may (issue 12).
    # Give that key the telephony role (KEY_ONLY_ACTIONS); supervisors' keys may too.
    "calls.notify": "supervisor",
    "admin.view": "admin",
    "admin.connectors": "admin",
    "admin.sync": "admin",
    "admin.scripts": "admin",
    "admin.notifications": "admin",  # reminder rules, CSAT shown, message previews
    "admin.branding": "admin",  # logo, accent colour, support contact of the customer pages
    "admin.fraud_rules": "admin",  # fraud screening rules and their versions
    "admin.wallets": "admin",  # the wallets the pay page offers per merchant account
    "users.manage": "admin",
    "api_keys.manage": "admin",
}

# Roles only an API key holds (domain.roles.KEY_ONLY_ROLES) -> all that such a key may do:
# nothing in ACTIONS is granted to them by rank, and they own nothing.
KEY_ONLY_ACTIONS: dict[str, frozenset[str]] = {
    "telephony": frozenset({"calls.notify"}),
}

# Actions on one object that belongs to its creator: others need the supervisor role.
OWNED = {
    "payment.view",
    "payment.cancel",
    "payment.refund",
    "payment.send_link",
    "payment.take_by_keypad",
    "receipt.view",
    "receipt.resend",
    "live.join_payment_room",
}


class _Principal(Protocol):
    kind: str
    id: int
    role: str


def has_role(principal: _Principal, role: str) -> bool:
    """True if ``principal``'s role is ``role`` or one above it (never for a key-only
    role such as telephony, which is in no order)."""
    if principal.role not in ROLES:
        return False
    return ROLES.index(principal.role) >= ROLES.index(role)


def min_role(action: str) -> str:
    if action not in ACTIONS:
        raise KeyError(f"no policy for action {action!r}; add it to policy.ACTIONS")
    return ACTIONS[action]


def owns(principal: _Principal, created_by: str) -> bool:
    """``created_by`` is the creator's ``Principal.actor`` ("kind:id:name"); identity is
    kind and id (the name part changes when a user's email does)."""
    return created_by.startswith(f"{principal.kind}:{principal.id}:")


def may(principal: _Principal | None, action: str, obj: Any = None) -> bool:
    """May ``principal`` do ``action`` (to ``obj``)?

    ``obj`` for owned actions is the creator's actor string, or a mapping/object with
    ``created_by``. An unknown action is refused (fail closed)."""
    if principal is None or action not in ACTIONS:
        return False
    if principal.role in KEY_ONLY_ACTIONS:
        return principal.kind == "api_key" and action in KEY_ONLY_ACTIONS[principal.role]
    if not has_role(principal, ACTIONS[action]):
        return False
    if obj is not None and action in OWNED:
        created_by = obj if isinstance(obj, str) else _created_by(obj)
        return has_role(principal, "supervisor") or owns(principal, created_by)
    return True


def require(principal: _Principal | None, action: str, obj: Any = None) -> None:
    """Raise :class:`Forbidden` with what is missing when :func:`may` says no."""
    if may(principal, action, obj):
        return
    if principal is None:
        raise Forbidden(f"{action} needs a signed-in user or an API key; nothing was done")
    if action not in ACTIONS:
        raise Forbidden(f"{action} has no authorization policy, so it is refused")
    if principal.role in KEY_ONLY_ACTIONS:
        raise _key_only_refusal(principal.role)
    needed = ACTIONS[action]
    if not has_role(principal, needed):
        raise Forbidden(
            f"this needs the {needed} role; yours is {principal.role}. Nothing was done; "
            "ask an admin if you need it"
        )
    raise Forbidden("this belongs to whoever created it (or a supervisor); nothing was done")


def require_role(principal: _Principal, role: str) -> None:
    """Raise :class:`Forbidden` unless ``principal``'s role is ``role`` or above."""
    if has_role(principal, role):
        return
    if principal.role in KEY_ONLY_ACTIONS:
        raise _key_only_refusal(principal.role)
    raise Forbidden(f"this needs the {role} role; yours is {principal.role}")


def _key_only_refusal(role: str) -> Forbidden:
    allowed = ", ".join(sorted(KEY_ONLY_ACTIONS[role]))
    return Forbidden(f"a {role} key may only do {allowed}; nothing was done. Use another key")


def _created_by(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("created_by") or "")
    return str(getattr(obj, "created_by", "") or "")
