"""The console's screen-pop and search box: ``{prefix}/agent/lookup``.

What the agent types decides how it is looked up: an email address; a phone number
written any common way (``(212) 555-0101``, ``+1 212-555-0101``, ``212.555.0101``: read
as E.164 by :func:`crm_pay.domain.phone.normalize_phone`, national numbers as North
American, and that normalized number is what every CRM connector is asked for);
anything else is a CRM id (any case) or a name (``Rivera``), searched by
:func:`crm_pay.services.customer_lookup.find_by_text`. One match opens the customer; several
give a pick list.
"""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, render_template, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import ConfigurationError, CrmUnavailable, ValidationError
from crm_pay.domain.phone import looks_like_phone, normalize_phone
from crm_pay.services import customer_lookup, customers

from .console import bp

__all__ = ["lookup", "phone_from_query"]

_CRM_DOWN = (
    "The CRM is not answering, and searching by phone, email or name needs it. Open the "
    "customer by their CRM id instead: customers opened before are shown from crm-pay's "
    "copy and can still pay."
)


def phone_from_query(text: str) -> str:
    """A typed phone number as E.164; ``ValidationError`` in words when it cannot be one.
    An unencoded ``+`` in a query string arrives as a space, hence the strip."""
    written = text.strip()
    digits = "".join(ch for ch in written if ch.isdigit())
    # "+1 212..." sent unencoded reads " 1 212...": the digits of an international number
    found = normalize_phone(written) or (
        normalize_phone(f"+{digits}") if text.startswith(" ") and digits else None
    )
    if found is None:
        raise ValidationError(
            f"{written!r} is not a phone number we can read: type it with the country code "
            "(+1 212 555 0101, E.164) or as a 10-digit North American number."
        )
    return found


def _readable_phone(text: str) -> bool:
    try:
        phone_from_query(text)
    except ValidationError:
        return False
    return True


def _page(query: str, status: int, **context: Any) -> Response:
    html = render_template("crm_pay/console_index.html", query=query, **context)
    return Response(html, status=status)


@bp.get("/lookup")
def lookup() -> Any:
    """Screen-pop: ``?phone=+15551234567`` or ``?email=`` (one match opens the customer,
    several give a pick list) or ``?q=`` from the search box (an id, a name, a phone
    number or an email)."""
    ctx = get_context()
    query = request.args.get("q", "").strip()
    phone = request.args.get("phone", "")
    email = request.args.get("email", "").strip()
    if query and not phone.strip() and not email:
        if "@" in query:
            email = query
        elif looks_like_phone(query) and _readable_phone(request.args["q"]):
            phone = request.args["q"]  # else digits that are no phone number: an id (HubSpot's are)
    searched = phone.strip() or email or query
    try:
        if phone.strip():
            found = customers.find_by_phone(ctx, phone_from_query(phone))
        elif email:
            found = customers.find_by_email(ctx, email)
        else:
            found = customer_lookup.find_by_text(ctx, query)
    except ValidationError as exc:
        return _page(searched, 422, error=exc.message)
    except (CrmUnavailable, ConfigurationError):
        return _page(searched, 503, error=_CRM_DOWN)
    if len(found) == 1:
        return redirect(url_for(".customer", crm_ref=found[0]["crm_ref"]))
    return _page(searched, 200 if found else 404, matches=found)
