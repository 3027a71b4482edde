"""Receipts as PDF (fpdf2, built-in fonts) and as plain text (for e-mail bodies).

Both are drawn from one layout, so the PDF and the text always say the same thing. The
PDF is deterministic: its dates come from the receipt and its producer is fixed, so the
same receipt always gives the same bytes (receipts can be re-rendered and compared).

The payment method is the only field treated as card data: whatever it holds, at most
the last 4 digits of a card are printed ("Visa ending 1111"). Other free text (names,
descriptions) is expected to be redacted by the caller before it reaches a receipt.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from fpdf import FPDF, FontFace
from fpdf.enums import XPos, YPos

from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Receipt

__all__ = [
    "ReceiptLayout",
    "receipt_layout",
    "render_receipt_pdf",
    "render_receipt_text",
    "printed_method",
    "format_moment",
]

_PRODUCER: Final = "crm-pay"
# A card written in the method: masked ("•••• 1111", "**** 1111") or bare digits.
_CARD_IN_METHOD: Final = re.compile(
    r"[•·∙●*][•·∙●*\s-]*(?:\d[\s-]*)*\d|(?<!ending )\d(?:[\s-]*\d){3,}"
)
# Printable stand-ins for characters the PDF core fonts (latin-1) lack.
_LATIN1_STAND_INS: Final = str.maketrans(
    {"•": "*", "–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "€": "EUR"}
)
_TEXT_WIDTH: Final = 72


@dataclass(frozen=True, slots=True)
class ReceiptLayout:
    """What a receipt says, as strings, in reading order."""

    title: str
    merchant: tuple[str, ...]
    details: tuple[tuple[str, str], ...]
    items: tuple[tuple[str, str, str, str, str], ...]  # description, qty, unit, tax, total
    summary: tuple[tuple[str, str], ...]
    applied_heading: str
    allocations: tuple[tuple[str, str], ...]  # where the money went: invoices, credit
    payment: tuple[tuple[str, str], ...]
    total: tuple[str, str]


def printed_method(method: str) -> str:
    """The payment method as printed: a card shows as ``"Visa ending 1111"``, never more
    than its last 4 digits; a wallet name is kept as it is."""

    def ending(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        return f"ending {digits[-4:]}"

    label = _CARD_IN_METHOD.sub(ending, method)
    return re.sub(r"\s+", " ", label).strip()


def render_receipt_text(receipt: Receipt) -> str:
    """The receipt as plain text (UTF-8 friendly, 72 columns), for e-mails and logs."""
    layout = receipt_layout(receipt)
    out: list[str] = [*layout.merchant, "", layout.title.upper(), ""]
    out += [_pair(label, value) for label, value in layout.details]
    if layout.items:
        out += ["", f"{'Description':<30} {'Qty':>4} {'Unit price':>12} {'Tax':>10} {'Total':>12}"]
        for description, qty, unit, tax, total in layout.items:
            wrapped = textwrap.wrap(description, 30) or [""]
            out.append(f"{wrapped[0]:<30} {qty:>4} {unit:>12} {tax:>10} {total:>12}")
            out += wrapped[1:]
    if layout.summary:
        out.append("")
        out += [_pair(label, value, right=True) for label, value in layout.summary]
    if layout.allocations:
        out += ["", layout.applied_heading]
        out += [_pair(f"  {label}", value, right=True) for label, value in layout.allocations]
    out.append("")
    out.append(_pair(*layout.total, right=True))
    out += [_pair(label, value) for label, value in layout.payment]
    return "\n".join(out) + "\n"


def render_receipt_pdf(receipt: Receipt, *, compress: bool = True) -> bytes:
    """The receipt as an A4 PDF. ``compress=False`` leaves the page content readable,
    which tests use to look at the text."""
    layout = receipt_layout(receipt)
    pdf = FPDF(format="A4")
    pdf.set_compression(compress)
    pdf.set_creation_date(receipt.issued_at)
    pdf.set_producer(_PRODUCER)
    pdf.set_creator(_PRODUCER)
    pdf.set_title(_latin1(f"{layout.title} {receipt.number}"))
    pdf.set_author(_latin1(receipt.merchant.name))
    pdf.set_lang("en")
    pdf.set_margins(18, 18, 18)
    pdf.add_page()

    pdf.set_font("Helvetica", "B", 15)
    pdf.multi_cell(0, 7, _latin1(layout.merchant[0]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 9)
    for line in layout.merchant[1:]:
        pdf.multi_cell(0, 4.5, _latin1(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, layout.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    for label, value in layout.details:
        _pdf_pair(pdf, label, value)

    if layout.items:
        pdf.ln(4)
        with pdf.table(
            col_widths=(48, 8, 16, 14, 16),
            text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
            headings_style=FontFace(emphasis="BOLD"),
            line_height=5.5,
            borders_layout="HORIZONTAL_LINES",
        ) as table:
            table.row(("Description", "Qty", "Unit price", "Tax", "Total"))
            for item in layout.items:
                table.row(tuple(_latin1(text) for text in item))

    pdf.ln(3)
    for label, value in layout.summary:
        _pdf_pair(pdf, label, value, right=True)
    if layout.allocations:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(0, 6, layout.applied_heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Helvetica", "", 10)
        for label, value in layout.allocations:
            _pdf_pair(pdf, label, value, right=True)
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 12)
    _pdf_pair(pdf, *layout.total, right=True, height=8)
    pdf.set_font("Helvetica", "", 10)
    pdf.ln(2)
    for label, value in layout.payment:
        _pdf_pair(pdf, label, value)
    return bytes(pdf.output())


# ---------------------------------------------------------------------------- layout
def receipt_layout(receipt: Receipt) -> ReceiptLayout:
    currency = receipt.amount_paid.currency
    refund = receipt.kind == "refund"
    # A settlement reversal: the card was charged but the bank never paid the merchant.
    reversal = receipt.kind == "reversal"
    merchant = receipt.merchant
    merchant_lines = [merchant.name, *merchant.address.splitlines()]
    merchant_lines += [text for text in (merchant.phone, merchant.email) if text]
    if merchant.tax_id:
        merchant_lines.append(f"Tax ID: {merchant.tax_id}")

    details = (
        ("Receipt number", receipt.number),
        ("Date", format_moment(receipt.issued_at)),
        ("Customer", f"{receipt.customer_name} ({receipt.customer_ref})"),
        ("Payment ID", receipt.payment_id),
    )
    items = tuple(
        (
            f"{line.description} ({line.invoice_ref})" if line.invoice_ref else line.description,
            str(line.quantity),
            line.unit_price.format(),
            line.tax.format(),
            (line.net + line.tax).format(),
        )
        for line in receipt.lines
    )
    summary: list[tuple[str, str]] = []
    if receipt.lines:
        summary.append(("Subtotal", _sum([line.net for line in receipt.lines], currency).format()))
    summary += [(label, amount.format()) for label, amount in receipt.tax_breakdown]
    if receipt.lines or not receipt.shipping.is_zero():
        summary.append(("Shipping", receipt.shipping.format()))
    method_label = "Refunded to" if refund else "Reversed on" if reversal else "Paid with"
    payment = [(method_label, printed_method(receipt.method))]
    payment.append(("PSP reference", receipt.psp_reference or "-"))
    allocations = tuple((invoice, amount.format()) for invoice, amount in receipt.allocations)
    if not receipt.credit.is_zero():
        allocations += (("Customer credit", receipt.credit.format()),)
    return ReceiptLayout(
        title="Refund receipt" if refund else "Payment reversal" if reversal else "Receipt",
        merchant=tuple(merchant_lines),
        details=details,
        items=items,
        summary=tuple(summary),
        applied_heading=(
            "Refund taken from" if refund else "Reversed from" if reversal else "Payment applied to"
        ),
        allocations=allocations,
        payment=tuple(payment),
        total=(
            "Total refunded" if refund else "Total reversed" if reversal else "Total paid",
            receipt.amount_paid.format(),
        ),
    )


def _sum(amounts: list[Money], currency: str) -> Money:
    total = Money.zero(currency)
    for amount in amounts:
        total += amount
    return total


def format_moment(moment: datetime) -> str:
    """``2026-03-02 14:05:00 EST (UTC-05:00)``: the local time and where it is local."""
    offset = moment.utcoffset()
    assert offset is not None  # Receipt refuses naive date-times
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    utc = f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    name = moment.tzname() or utc
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S")
    if name == utc or (minutes == 0 and name == "UTC"):
        return f"{stamp} {name}"
    return f"{stamp} {name} ({utc})"


def _pair(label: str, value: str, *, right: bool = False) -> str:
    if right:
        return f"{label:<{_TEXT_WIDTH - 20}}{value:>20}"
    return f"{label + ':':<16}{value}"


def _pdf_pair(pdf: FPDF, label: str, value: str, *, right: bool = False, height: float = 6) -> None:
    if right:
        pdf.cell(pdf.epw - 45, height, _latin1(label), align="R")
        pdf.cell(45, height, _latin1(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    else:
        pdf.cell(38, height, _latin1(label))
        pdf.multi_cell(0, height, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _latin1(text: str) -> str:
    """``text`` in the PDF core fonts' character set: accents the fonts lack are dropped
    ("ő" -> "o"), other missing characters become "?" rather than failing the receipt."""
    out: list[str] = []
    for char in text.translate(_LATIN1_STAND_INS):
        if ord(char) < 256:
            out.append(char if char.isprintable() else " ")
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append(base if base and all(ord(c) < 256 for c in base) else "?")
    return "".join(out)
