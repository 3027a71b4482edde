"""Receipts as PDF (fpdf2, embedded Unicode fonts) and as plain text (for e-mail bodies).

Both are drawn from one layout, so the PDF and the text always say the same thing. Names
and descriptions print in any script the fonts of :mod:`.receipt_fonts` cover (Latin,
Greek, Cyrillic, Chinese, Japanese, Arabic). The PDF is deterministic: its dates come
from the receipt, its producer is fixed and its font subsets depend only on the text,
so the same receipt always gives the same bytes (receipts can be re-rendered and
compared).

The payment method is the only field treated as card data: whatever it holds, at most
the last 4 digits of a card are printed ("Visa ending 1111"). Other free text (names,
descriptions) is expected to be redacted by the caller before it reaches a receipt.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Final

from fpdf import FPDF

from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Receipt

from .receipt_fonts import SubsetFontsProducer, font_runs, use_receipt_font

__all__ = [
    "ReceiptLayout",
    "receipt_layout",
    "render_receipt_pdf",
    "render_receipt_text",
    "printed_method",
    "format_moment",
]

_PRODUCER: Final = "crm-pay"
_MARGIN: Final = 18.0  # mm
_PAD: Final = 1.0  # mm of padding inside a cell, as fpdf2's cells have
_ROW_LINE: Final = 5.5  # mm per line of a table row
_COLUMNS: Final = (48, 8, 16, 14, 16)  # shares of the width: description, qty, unit, tax, total
# A card written in the method: masked ("•••• 1111", "**** 1111") or bare digits.
_CARD_IN_METHOD: Final = re.compile(
    r"[•·∙●*][•·∙●*\s-]*(?:\d[\s-]*)*\d|(?<!ending )\d(?:[\s-]*\d){3,}"
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
    still_owed: tuple[tuple[str, str], ...] = ()  # ("Still owed", "USD 25.00 on INV-1001")


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
    if layout.still_owed:
        out.append("")
        out += [_pair(label, value) for label, value in layout.still_owed]
    return "\n".join(out) + "\n"


def render_receipt_pdf(receipt: Receipt, *, compress: bool = True) -> bytes:
    """The receipt as an A4 PDF with its fonts embedded (subsets of the glyphs it uses).
    ``compress=False`` leaves the page content readable. Raises
    :class:`~crm_pay.rendering.receipt_fonts.ReceiptFontsMissing` when the fonts are not
    installed."""
    layout = receipt_layout(receipt)
    pdf = FPDF(format="A4")
    pdf.set_compression(compress)
    pdf.set_creation_date(receipt.issued_at)
    pdf.set_producer(_PRODUCER)
    pdf.set_creator(_PRODUCER)
    pdf.set_title(f"{layout.title} {receipt.number}")
    pdf.set_author(receipt.merchant.name)
    pdf.set_lang("en")
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(False)
    page = _Page(pdf)

    page.lines(layout.merchant[0], size=15, bold=True, height=7)
    for line in layout.merchant[1:]:
        page.lines(line, size=9, height=4.5)
    page.skip(6)
    page.lines(layout.title, size=13, bold=True, height=8)
    for label, value in layout.details:
        page.pair(label, value)
    if layout.items:
        page.skip(4)
        page.table(layout.items)
    page.skip(3)
    for label, value in layout.summary:
        page.pair(label, value, right=True)
    if layout.allocations:
        page.lines(layout.applied_heading, bold=True, height=6)
        for label, value in layout.allocations:
            page.pair(label, value, right=True)
    page.skip(2)
    page.pair(*layout.total, right=True, size=12, bold=True, height=8)
    page.skip(2)
    for label, value in layout.payment:
        page.pair(label, value)
    if layout.still_owed:
        page.skip(2)
        for label, value in layout.still_owed:
            page.pair(label, value, bold=True)
    return bytes(pdf.output(output_producer_class=SubsetFontsProducer))


class _Page:
    """Draws the receipt top to bottom: text in runs of one font (:func:`font_runs`),
    placed by us rather than by fpdf2's cells and tables, which measure every string
    again (the widths here are cached per string)."""

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf
        self.y = _MARGIN
        self.font: tuple[str, str, float] | None = None
        pdf.add_page()

    def skip(self, height: float) -> None:
        self.y += height

    def room(self, height: float) -> None:
        if self.y + height > self.pdf.h - _MARGIN:
            self.pdf.add_page()
            self.font = None
            self.y = _MARGIN

    def draw(self, x: float, text: str, *, size: float, bold: bool, height: float) -> None:
        """``text`` from ``x`` on the current line, centred in ``height`` as a cell is."""
        baseline = self.y + height / 2 + 0.3 * size / self.pdf.k
        for family, style, run, width in font_runs(text, bold):
            if self.font != (family, style, size):
                use_receipt_font(self.pdf, family + style)
                self.pdf.set_font(family, style, size)
                self.font = (family, style, size)
            self.pdf.text(x, baseline, run)
            x += width * size / 1000 / self.pdf.k

    def width(self, text: str, size: float, bold: bool = False) -> float:
        return sum(run[3] for run in font_runs(text, bold)) * size / 1000 / self.pdf.k

    def wrap(self, text: str, width: float, size: float, bold: bool = False) -> list[str]:
        return list(_wrap(text, round(width * self.pdf.k * 1000 / size), bold))

    def lines(self, text: str, *, size: float = 10, bold: bool = False, height: float = 6) -> None:
        for line in self.wrap(text, self.pdf.epw - 2 * _PAD, size, bold):
            self.room(height)
            self.draw(_MARGIN + _PAD, line, size=size, bold=bold, height=height)
            self.y += height

    def pair(
        self,
        label: str,
        value: str,
        *,
        right: bool = False,
        size: float = 10,
        bold: bool = False,
        height: float = 6,
    ) -> None:
        if right:  # label right-aligned before a 45 mm column of amounts
            self.room(height)
            end = _MARGIN + self.pdf.epw - 45 - _PAD
            self.draw(
                end - self.width(label, size, bold), label, size=size, bold=bold, height=height
            )
            end = _MARGIN + self.pdf.epw - _PAD
            self.draw(
                end - self.width(value, size, bold), value, size=size, bold=bold, height=height
            )
            self.y += height
            return
        lines = self.wrap(value, self.pdf.epw - 38 - 2 * _PAD, size, bold)
        self.room(height * len(lines))
        self.draw(_MARGIN + _PAD, label, size=size, bold=bold, height=height)
        for line in lines:
            self.draw(_MARGIN + 38 + _PAD, line, size=size, bold=bold, height=height)
            self.y += height

    def table(self, items: tuple[tuple[str, str, str, str, str], ...]) -> None:
        scale = self.pdf.epw / sum(_COLUMNS)
        widths = [share * scale for share in _COLUMNS]
        self.pdf.line(_MARGIN, self.y, _MARGIN + self.pdf.epw, self.y)
        self.row(("Description", "Qty", "Unit price", "Tax", "Total"), widths, bold=True)
        for item in items:
            self.row(item, widths, bold=False)

    def row(self, cells: tuple[str, ...], widths: list[float], *, bold: bool) -> None:
        size, height = 10, _ROW_LINE
        wrapped = [
            self.wrap(text, w - 2 * _PAD, size, bold) for text, w in zip(cells, widths, strict=True)
        ]
        row_height = max(len(lines) for lines in wrapped) * height + 2 * _PAD
        self.room(row_height)
        x = _MARGIN
        top = self.y
        for index, (lines, w) in enumerate(zip(wrapped, widths, strict=True)):
            self.y = top + _PAD
            for line in lines:
                left = x + _PAD if index == 0 else x + w - _PAD - self.width(line, size, bold)
                self.draw(left, line, size=size, bold=bold, height=height)
                self.y += height
            x += w
        self.y = top + row_height
        self.pdf.line(_MARGIN, self.y, _MARGIN + self.pdf.epw, self.y)


@lru_cache(maxsize=8192)
def _wrap(text: str, width: int, bold: bool) -> tuple[str, ...]:
    """``text`` in lines no wider than ``width`` (1/1000 em), broken between words (a word
    wider than the line is broken between characters)."""

    def measure(part: str) -> float:
        return sum(run[3] for run in font_runs(part, bold))

    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if measure(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for char in word:
            if line and measure(line + char) > width:
                lines.append(line)
                line = ""
            line += char
    lines.append(line)
    return tuple(lines)


# ---------------------------------------------------------------------------- layout
def receipt_layout(receipt: Receipt) -> ReceiptLayout:
    """What the receipt says, in reading order, as the PDF, the text and the e-mails
    print it."""
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
    if receipt.bank_check:
        payment.append(("Bank check", receipt.bank_check))
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
        still_owed=tuple(
            ("Still owed", f"{owed.format()} on {invoice}")
            for invoice, owed in receipt.still_owed
            if receipt.kind == "payment" and owed.is_positive()
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
