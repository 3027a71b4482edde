"""decline category: the words of a decline follow crm-pay's category, not the PSP's code

Revision ID: 0008
Revises: 0007

Payments recorded before this kept only the PSP's code (``processor.2001``), and every
one of them was a Braintree code: their category is filled in from Braintree's codes as
the adapter mapped them when this revision was written, so the customer's next step
shown for them does not change.

The mapping is a literal copy here, not an import of ``connectors.psp.braintree_mapping``:
a migration must do the same thing forever, whatever later releases change in an adapter.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Frozen copy of the Braintree adapter's decline mapping as of this revision (do not
# edit: rows already migrated were filled with exactly these values).
# Processor response codes (``processor.<n>``) that are not "issuer_declined":
_PROCESSOR_CODES: dict[str, str] = {
    "insufficient_funds": "2001",
    "limit_exceeded": "2002 2003",
    "expired_card": "2004",
    "card_details": "2005 2006 2008 2051",
    "card_not_usable": "2007 2009 2012 2013 2014 2022 2047 2053",
    "security_code": "2010",
    "call_issuer": "2011 2041 2043 2044",
    "card_restricted": "2015 2017 2018 2057",
    "duplicate": "2016 2069",
    "invalid_transaction": (
        "2019 2020 2021 2033 2034 2035 2039 2048 2049 2050 2055 2056 2061 2062 2064"
    ),
    "merchant_setup": (
        "2023 2025 2026 2027 2028 2029 2030 2031 2032 2040 2042 2045 2058 2079 2087 2088 "
        "2089 2091 2100"
    ),
    "card_type_not_accepted": "2024",
    "operation_not_possible": "2036 2037 2054 2065 2067 2090 2094 2095",
    "address": "2059",
    "address_and_security_code": "2060",
    "paypal_declined": (
        "2063 2066 2068 2070 2071 2072 2073 2074 2075 2076 2077 2078 2081 2082 2083 2084 "
        "2085 2086 2092 2093 2096 2097 2098"
    ),
    "authentication_required": "2099",
    "network_unavailable": "3000",
}
_PROCESSOR: dict[str, str] = {
    code: category for category, codes in _PROCESSOR_CODES.items() for code in codes.split()
}
# Gateway rejection reasons (``gateway.<reason>``); any other reason is "not_approved".
_GATEWAY: dict[str, str] = {
    "application_incomplete": "merchant_setup",
    "avs": "address",
    "avs_and_cvv": "address_and_security_code",
    "cvv": "security_code",
    "duplicate": "duplicate",
    "excessive_retry": "too_many_attempts",
    "fraud": "not_approved",
    "risk_threshold": "not_approved",
    "three_d_secure": "authentication_failed",
    "token_issuance": "payment_method",
}
# The category of a reference whose code says nothing more, by its kind.
_FALLBACK: dict[str, str] = {
    "processor": "issuer_declined",
    "gateway": "not_approved",
    "validation": "details_not_accepted",
    "settlement": "settlement_declined",
    "failed": "network_unavailable",
    "not_at_psp": "not_at_psp",
    "unknown": "outcome_unknown",
}


def category_of_reference(reference: str) -> str:
    """The category of a stored reference (``processor.2001``, ``gateway.cvv``)."""
    kind, _, raw = str(reference).strip().lower().partition(".")
    if kind in ("processor", "failed") and raw:  # any other processor code: declined
        return _PROCESSOR.get(raw, "issuer_declined")
    if kind == "gateway" and raw in _GATEWAY:
        return _GATEWAY[raw]
    return _FALLBACK.get(kind, "outcome_unknown")


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decline_category", sa.String(length=40), nullable=True))
    payments = sa.table(
        "payments",
        sa.column("decline_code", sa.String()),
        sa.column("decline_category", sa.String()),
    )
    conn = op.get_bind()
    codes = conn.execute(
        sa.select(payments.c.decline_code).where(payments.c.decline_code.is_not(None)).distinct()
    ).scalars()
    for code in list(codes):
        conn.execute(
            payments.update()
            .where(payments.c.decline_code == code)
            .values(decline_category=category_of_reference(code))
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("decline_category")
