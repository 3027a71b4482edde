"""Finding customers from what an agent types that is neither a phone number nor an
email: a CRM id in any case, or a name (``Rivera``).

Layer: views (above :mod:`.customers`). The CRM answers when it can search
(:class:`~crm_pay.ports.CrmTextSearch`); crm-pay's own copy of the customers it has
seen answers otherwise, and while the CRM does not answer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crm_pay.domain.customer_search import matches_customer, search_words
from crm_pay.domain.errors import ConfigurationError, CrmUnavailable, ValidationError
from crm_pay.persistence.models import Customer
from crm_pay.ports import CrmCustomer, CrmTextSearch, capability

from .context import Context
from .customers import crm_call, screened, summary

__all__ = ["TEXT_MATCHES", "find_by_text"]


#: At most this many matches of a search by id or name (a pick list, not a report).
TEXT_MATCHES = 20


def _known_by_text(ctx: Context, text: str) -> list[dict[str, Any]]:
    """crm-pay's own copy of the customers it has seen, searched by id or name: for a
    CRM that cannot search by name, and while the CRM does not answer."""
    words = search_words(text)
    wanted = text.strip().casefold()
    with ctx.db.transaction() as s:
        by_ref = select(Customer).where(func.lower(Customer.crm_ref) == wanted)
        rows = list(s.scalars(by_ref.limit(TEXT_MATCHES)))
        if words:
            longest = max(words, key=len)
            by_name = select(Customer).where(func.lower(Customer.name).contains(longest))
            rows += list(s.scalars(by_name.order_by(Customer.crm_ref).limit(200)))
        seen: dict[str, dict[str, Any]] = {}
        for c in rows:
            if matches_customer(text, crm_ref=c.crm_ref, name=c.name):
                seen.setdefault(
                    c.crm_ref, summary(CrmCustomer(c.crm_ref, c.name, c.email, c.phone))
                )
    return list(seen.values())[:TEXT_MATCHES]


def find_by_text(ctx: Context, text: str) -> list[dict[str, Any]]:
    """Customers for search text that is neither a phone number nor an email: the CRM
    id as typed, then (in any case) the id or a name, from the CRM when it can search
    (:class:`~crm_pay.ports.CrmTextSearch`), else from crm-pay's own copy. When the CRM
    does not answer, the copy alone; with nothing found there either, ``CrmUnavailable``."""
    text = (text or "").strip()
    if not text or len(text) > 100:
        raise ValidationError("Type a CRM id, a name, a phone number or an email.")
    try:
        exact = crm_call("find_customer", ctx.crm.find_customer, text)
        if exact is not None:
            return screened(ctx, [exact])
        searcher = capability(ctx.crm, CrmTextSearch)
        found = (
            screened(ctx, crm_call("find_by_text", searcher.find_customers_by_text, text))
            if searcher is not None
            else []
        )
    except (CrmUnavailable, ConfigurationError):
        known = _known_by_text(ctx, text)
        if known:
            return known
        raise
    if not found:
        found = _known_by_text(ctx, text)
    return found[:TEXT_MATCHES]
