"""Demo data for the builtin CRM: a small US merchant's customers, invoices and cards.

Every date is fixed, counted from ``DEMO_ANCHOR`` rather than ``date.today()``, so tests,
screenshots and receipts come out the same on every run (some invoices are therefore
overdue, as they would be on a collections call). Phone numbers are in the fictional
``555-01xx`` range and e-mail addresses use ``example.com``.

``SAMPLE_*`` are the customers of the demo's sample history (``crm_pay.demo_history``):
``crm-pay demo`` adds them to its CRM when it seeds that history, so the records above,
which many tests use, stay as they are. One of them has no e-mail address (a receipt that
cannot be delivered).

Cards on file are PSP tokens only. ``DEMO_CARD_TOKENS`` lists every token the demo uses
with what may be shown of its card, so the Braintree sandbox can register them as vaulted
payment methods backed by Braintree's published test cards (Visa 1111, MasterCard 4444).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

from crm_pay.domain.money import Money
from crm_pay.ports import CardSummary, CrmCustomer, CrmInvoice, CrmInvoiceLine, StoredCard

__all__ = [
    "DEMO_ANCHOR",
    "DEMO_CURRENCY",
    "DEMO_CUSTOMERS",
    "DEMO_INVOICES",
    "DEMO_PAID_INVOICE_REFS",
    "DEMO_CARD_TOKENS",
    "DEMO_CARDS",
    "SAMPLE_CUSTOMERS",
    "SAMPLE_INVOICES",
    "SAMPLE_CARDS",
]

DEMO_ANCHOR: Final = date(2026, 3, 2)
DEMO_CURRENCY: Final = "USD"


def _usd(minor: int) -> Money:
    return Money(minor, DEMO_CURRENCY)


def _line(
    description: str, quantity: int, unit_minor: int, rate_bp: int, sku: str
) -> CrmInvoiceLine:
    """An invoice line whose tax is ``rate_bp`` basis points of its net, rounded half up."""
    tax_minor = (unit_minor * quantity * rate_bp + 5_000) // 10_000
    return CrmInvoiceLine(description, quantity, _usd(unit_minor), _usd(tax_minor), sku=sku)


def _invoice(
    number: str,
    customer_ref: str,
    *,
    issued_days_ago: int,
    net_days: int,
    lines: tuple[CrmInvoiceLine, ...],
    shipping_minor: int,
    tax_label: str,
) -> CrmInvoice:
    issued = DEMO_ANCHOR - timedelta(days=issued_days_ago)
    return CrmInvoice(
        crm_ref=number,
        customer_ref=customer_ref,
        currency=DEMO_CURRENCY,
        issued_on=issued,
        due_on=issued + timedelta(days=net_days),
        lines=lines,
        shipping=_usd(shipping_minor),
        tax_label=tax_label,
    )


DEMO_CUSTOMERS: Final[tuple[CrmCustomer, ...]] = (
    CrmCustomer(
        "CUST-0001",
        "Eleanor Whitfield",
        email="eleanor.whitfield@example.com",
        phone="+12125550101",
        company="Whitfield Garden Supply",
        psp_customer_id="demo-customer-0001",
    ),
    CrmCustomer(
        "CUST-0002",
        "Marcus Oyelaran",
        email="marcus.oyelaran@example.com",
        phone="+13125550117",
        company="Oyelaran Logistics LLC",
    ),
    # Priya and Arjun share the practice's front-desk line: a phone lookup returns both,
    # so the agent console must offer a pick list.
    CrmCustomer(
        "CUST-0003",
        "Priya Raman",
        email="priya.raman@example.com",
        phone="+14155550142",
        company="Raman Dental Studio",
    ),
    CrmCustomer(
        "CUST-0004",
        "Arjun Raman",
        email="arjun.raman@example.com",
        phone="+14155550142",
        company="Raman Dental Studio",
    ),
    CrmCustomer(
        "CUST-0005",
        "Sofia Delgado",
        email="sofia.delgado@example.com",
        phone="+16175550168",
        company="Delgado & Sons Catering",
        language="es",  # her pages are in Spanish (agent_ui/i18n.py)
    ),
    CrmCustomer(
        "CUST-0006",
        "Thomas Nguyen",
        email="thomas.nguyen@example.com",
        phone="+12065550183",
        company="Nguyen Auto Repair",
    ),
)

# Sales tax rates in basis points, one per customer state (rounded to whole basis points).
_NY, _IL, _CA, _WA = 888, 1025, 725, 1025

DEMO_INVOICES: Final[tuple[CrmInvoice, ...]] = (
    _invoice(
        "INV-1001",
        "CUST-0001",
        issued_days_ago=45,
        net_days=30,
        lines=(
            _line("Cedar raised garden bed, 4 x 8 ft", 2, 18_900, _NY, "GB-48-CED"),
            _line("Organic potting soil, 40 qt", 6, 1_450, _NY, "SOIL-40"),
        ),
        shipping_minor=3_500,
        tax_label="NY sales tax 8.88%",
    ),
    _invoice(
        "INV-1004",
        "CUST-0001",
        issued_days_ago=10,
        net_days=30,
        lines=(_line("Drip irrigation starter kit", 1, 7_999, _NY, "DRIP-KIT"),),
        shipping_minor=0,
        tax_label="NY sales tax 8.88%",
    ),
    _invoice(
        "INV-1002",
        "CUST-0002",
        issued_days_ago=38,
        net_days=30,
        lines=(
            _line("Fleet GPS tracker", 5, 12_900, _IL, "GPS-T5"),
            _line("Tracking service, first month", 5, 1_999, _IL, "GPS-SVC-1M"),
        ),
        shipping_minor=1_200,
        tax_label="IL sales tax 10.25%",
    ),
    _invoice(
        "INV-1003",
        "CUST-0003",
        issued_days_ago=60,
        net_days=30,
        lines=(_line("Nitrile exam gloves, case of 1000", 4, 6_240, _CA, "GLV-NIT-1000"),),
        shipping_minor=1_850,
        tax_label="CA sales tax 7.25%",
    ),
    _invoice(
        "INV-1005",
        "CUST-0003",
        issued_days_ago=21,
        net_days=30,
        lines=(
            _line("Autoclave pouches, box of 200", 10, 1_125, _CA, "AUTO-P200"),
            _line("Prophy paste, 200 cups", 2, 4_800, _CA, "PRO-200"),
        ),
        shipping_minor=995,
        tax_label="CA sales tax 7.25%",
    ),
    _invoice(
        "INV-1007",
        "CUST-0003",
        issued_days_ago=3,
        net_days=15,
        lines=(_line("Ultrasonic scaler tips", 3, 5_400, _CA, "USC-TIP"),),
        shipping_minor=0,
        tax_label="CA sales tax 7.25%",
    ),
    _invoice(
        "INV-1006",
        "CUST-0004",
        issued_days_ago=14,
        net_days=30,
        lines=(_line("Dental loupes 3.5x, custom fit", 1, 115_000, _CA, "LOUPE-35"),),
        shipping_minor=2_500,
        tax_label="CA sales tax 7.25%",
    ),
    _invoice(
        "INV-1008",
        "CUST-0006",
        issued_days_ago=33,
        net_days=30,
        lines=(
            _line("Ceramic brake pad set", 4, 4_275, _WA, "BRK-CER"),
            _line("Vented brake rotor", 2, 8_800, _WA, "ROT-V"),
        ),
        shipping_minor=1_500,
        tax_label="WA sales tax 10.25%",
    ),
    _invoice(
        "INV-1009",
        "CUST-0006",
        issued_days_ago=90,
        net_days=30,
        lines=(_line("Diagnostic scanner subscription, 1 year", 1, 29_900, _WA, "DIAG-1Y"),),
        shipping_minor=0,
        tax_label="WA sales tax 10.25%",
    ),
)

# Invoices the CRM already shows as paid: they exist, but are not open.
DEMO_PAID_INVOICE_REFS: Final[frozenset[str]] = frozenset({"INV-1009"})

DEMO_CARD_TOKENS: Final[dict[str, CardSummary]] = {
    "demo-token-visa-1111": CardSummary(
        brand="Visa", last4="1111", exp_month="12", exp_year="2030", bin="411111"
    ),
    "demo-token-mastercard-4444": CardSummary(
        brand="MasterCard", last4="4444", exp_month="06", exp_year="2029", bin="555555"
    ),
    # Braintree's published American Express test card (378282246310005)
    "demo-token-amex-0005": CardSummary(
        brand="American Express", last4="0005", exp_month="09", exp_year="2031", bin="378282"
    ),
}

DEMO_CARDS: Final[dict[str, tuple[StoredCard, ...]]] = {
    "CUST-0001": (
        StoredCard(
            "demo-token-visa-1111", DEMO_CARD_TOKENS["demo-token-visa-1111"], is_default=True
        ),
        StoredCard("demo-token-mastercard-4444", DEMO_CARD_TOKENS["demo-token-mastercard-4444"]),
    ),
}

# --------------------------------------------------------------------------- sample history
# Colorado, Oregon, Arizona, Georgia, Pennsylvania, Michigan sales tax (basis points).
_CO, _OR, _AZ, _GA, _PA, _MI = 290, 0, 560, 400, 600, 600


def _sample_customer(crm_ref: str, name: str, company: str, phone: str) -> CrmCustomer:
    email = name.lower().replace(" ", ".") + "@example.com"
    return CrmCustomer(crm_ref, name, email=email, phone=phone, company=company)


SAMPLE_CUSTOMERS: Final[tuple[CrmCustomer, ...]] = (
    _sample_customer("CUST-0101", "Grace Okafor", "Okafor Family Bakery", "+13035550121"),
    _sample_customer("CUST-0102", "Erik Lindqvist", "Lindqvist Plumbing", "+15035550134"),
    _sample_customer("CUST-0103", "Lucia Moreno", "Moreno Flowers", "+16025550145"),
    _sample_customer("CUST-0104", "Samuel Adeyemi", "Adeyemi Print Shop", "+14045550156"),
    _sample_customer("CUST-0105", "Hannah Kowalski", "Kowalski Transport", "+12155550163"),
    # No e-mail address on file: pay links go by SMS, receipts cannot be e-mailed.
    CrmCustomer("CUST-0106", "Walter Brennan", phone="+13135550178", company="Brennan Hardware"),
    _sample_customer("CUST-0107", "Nadia Haddad", "Haddad Books", "+13035550189"),
)

SAMPLE_INVOICES: Final[tuple[CrmInvoice, ...]] = (
    _invoice(
        "INV-2001",
        "CUST-0101",
        issued_days_ago=40,
        net_days=30,
        lines=(
            _line("Stand mixer, 20 qt", 1, 64_900, _CO, "MIX-20"),
            _line("Proofing baskets, set of 6", 2, 3_450, _CO, "PRF-6"),
        ),
        shipping_minor=2_500,
        tax_label="CO sales tax 2.9%",
    ),
    _invoice(
        "INV-2002",
        "CUST-0101",
        issued_days_ago=25,
        net_days=14,
        lines=(_line("Baking parchment, case of 1000 sheets", 3, 4_200, _CO, "PARCH-1000"),),
        shipping_minor=0,
        tax_label="CO sales tax 2.9%",
    ),
    _invoice(
        "INV-2003",
        "CUST-0102",
        issued_days_ago=35,
        net_days=30,
        lines=(
            _line("Tankless water heater", 1, 118_900, _OR, "TWH-199"),
            _line("Pressure relief valve", 3, 2_850, _OR, "PRV-075"),
        ),
        shipping_minor=4_500,
        tax_label="OR: no sales tax",
    ),
    _invoice(
        "INV-2004",
        "CUST-0102",
        issued_days_ago=12,
        net_days=30,
        lines=(_line("PEX tubing, 100 ft coil", 4, 5_600, _OR, "PEX-100"),),
        shipping_minor=1_500,
        tax_label="OR: no sales tax",
    ),
    _invoice(
        "INV-2005",
        "CUST-0103",
        issued_days_ago=30,
        net_days=21,
        lines=(_line("Floral foam bricks, case of 48", 2, 7_800, _AZ, "FOAM-48"),),
        shipping_minor=1_200,
        tax_label="AZ sales tax 5.6%",
    ),
    _invoice(
        "INV-2006",
        "CUST-0104",
        issued_days_ago=45,
        net_days=30,
        lines=(_line("Wide-format ink set", 1, 48_500, _GA, "INK-WF6"),),
        shipping_minor=0,
        tax_label="GA sales tax 4%",
    ),
    _invoice(
        "INV-2007",
        "CUST-0105",
        issued_days_ago=50,
        net_days=30,
        lines=(
            _line("Trailer brake controller", 2, 18_900, _PA, "TBC-2"),
            _line("LED marker lights, pair", 6, 2_400, _PA, "LED-MK"),
        ),
        shipping_minor=3_000,
        tax_label="PA sales tax 6%",
    ),
    _invoice(
        "INV-2008",
        "CUST-0106",
        issued_days_ago=28,
        net_days=14,
        lines=(_line("Cordless drill kit", 2, 15_900, _MI, "DRL-18V"),),
        shipping_minor=0,
        tax_label="MI sales tax 6%",
    ),
    _invoice(
        "INV-2009",
        "CUST-0107",
        issued_days_ago=33,
        net_days=30,
        lines=(_line("Oak bookshelf, 6 ft", 1, 42_000, _CO, "SHELF-6"),),
        shipping_minor=6_500,
        tax_label="CO sales tax 2.9%",
    ),
    _invoice(
        "INV-2010",
        "CUST-0107",
        issued_days_ago=20,
        net_days=15,
        lines=(_line("Archival book sleeves, box of 100", 2, 3_900, _CO, "SLV-100"),),
        shipping_minor=900,
        tax_label="CO sales tax 2.9%",
    ),
)

SAMPLE_CARDS: Final[dict[str, tuple[StoredCard, ...]]] = {
    "CUST-0102": (
        StoredCard(
            "demo-token-amex-0005", DEMO_CARD_TOKENS["demo-token-amex-0005"], is_default=True
        ),
    ),
}
