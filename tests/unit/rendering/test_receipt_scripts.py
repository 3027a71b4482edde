"""Receipt PDFs print names in every script the customers have, with the fonts embedded:
what a reader sees and copies is the name as typed (read back with pypdf)."""

from __future__ import annotations

import dataclasses
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Merchant, Receipt, ReceiptLine
from crm_pay.rendering.arabic_script import display_order
from crm_pay.rendering.receipt_fonts import (
    FONT_FILES,
    FONTS_DIR,
    ReceiptFontsMissing,
    check_receipt_fonts,
)
from crm_pay.rendering.receipt_pdf import render_receipt_pdf, render_receipt_text

NAMES = {
    "japanese": "山田 花子",
    "chinese": "张伟",
    "korean": "김민준",
    "arabic": "محمد عبد الله",
    "greek": "Ελένη Παπαδοπούλου",
    "cyrillic": "Дмитрий Соколов",
    "latin": "Zoë Łukasiewicz-Øvergård",
}


def usd(minor: int) -> Money:
    return Money(minor, "USD")


def receipt_for(name: str, **changes: object) -> Receipt:
    receipt = Receipt(
        number="R-2026-000321",
        kind="payment",
        issued_at=datetime(2026, 3, 2, 14, 5, tzinfo=ZoneInfo("America/New_York")),
        merchant=Merchant(name="Northwind Supply Co.", address="12 Harbor Street"),
        customer_name=name,
        customer_ref="CUST-0042",
        payment_id="pay-9x",
        lines=(ReceiptLine("Organic potting soil, 40 qt", 2, usd(1_450), usd(258), "INV-7"),),
        tax_breakdown=(("NY sales tax 8.88%", usd(258)),),
        shipping=usd(0),
        allocations=(("INV-7", usd(3_158)),),
        credit=usd(0),
        amount_paid=usd(3_158),
        method="Visa ending 1111",
        psp_reference="bt-1",
    )
    return dataclasses.replace(receipt, **changes)  # type: ignore[arg-type]


def read_back(pdf: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def embedded_fonts(pdf: bytes) -> dict[str, object]:
    """Every font the pages use, by base name, as its descendant's font descriptor."""
    found: dict[str, object] = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            assert font["/Subtype"] == "/Type0", font  # no base-14 font: all embedded
            (descendant,) = font["/DescendantFonts"]
            found[str(font["/BaseFont"])] = descendant.get_object()["/FontDescriptor"]
    return found


@pytest.mark.parametrize("script", NAMES)
def test_the_name_reads_back_as_typed(script: str) -> None:
    name = NAMES[script]
    text = read_back(render_receipt_pdf(receipt_for(name)))
    (line,) = [line for line in text.splitlines() if line.startswith("Customer ")]
    # (pypdf sets the bracket after Arabic by its own reading of the direction)
    assert name in line and "CUST-0042" in line
    assert "?" not in text
    assert name in render_receipt_text(receipt_for(name))


def test_a_merchant_and_descriptions_in_other_scripts_read_back_too() -> None:
    receipt = receipt_for(
        "Ada",
        merchant=Merchant(name="Café Ørsted — 東京 • سلام"),
        lines=(ReceiptLine("Чай зелёный “Премиум” — 10 €", 1, usd(999), usd(0), "INV-7"),),
    )
    text = read_back(render_receipt_pdf(receipt))
    assert "Café Ørsted — 東京 • سلام" in text
    assert "Чай зелёный “Премиум” — 10 €" in text


def test_arabic_is_drawn_joined_and_right_to_left() -> None:
    # seen from the left: final meem, medial lam-alef... as a reader of Arabic sees "سلام"
    assert display_order("سلام") == "\ufee1\ufefc\ufeb3"
    assert display_order("Paid by محمد") == "Paid by \ufeaa\ufee4\ufea4\ufee3"
    assert display_order("INV-1001") == "INV-1001"


def test_the_fonts_are_embedded_as_small_subsets() -> None:
    pdf = render_receipt_pdf(receipt_for("Ada Lovelace"))
    fonts = embedded_fonts(pdf)
    assert fonts  # the regular and the bold Noto Sans
    for descriptor in fonts.values():
        assert "/FontFile2" in descriptor or "/FontFile3" in descriptor  # type: ignore[operator]
    assert len(pdf) < 60_000  # an all-Latin receipt: no CJK or Arabic font goes in
    assert sorted(fonts) == ["/MPDFAA+NotoSans", "/MPDFAA+NotoSansBold"]
    japanese = render_receipt_pdf(receipt_for(NAMES["japanese"]))
    assert any("Chinese" in name for name in embedded_fonts(japanese))  # Noto Sans CJK
    assert len(japanese) < 80_000  # a few glyphs of an 8 MB font


def test_the_same_receipt_gives_the_same_bytes_from_any_thread() -> None:
    receipts = [receipt_for(name) for name in NAMES.values()]
    alone = [render_receipt_pdf(receipt) for receipt in receipts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(render_receipt_pdf, receipts * 3))
    assert together == alone * 3


def test_a_character_no_font_has_is_left_blank_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="crm_pay.rendering"):
        pdf = render_receipt_pdf(receipt_for("Ada \U0001f642 Lovelace"))
    assert "Ada Lovelace" in " ".join(read_back(pdf).split())
    assert "U+1F642" in caplog.text and "Lovelace" not in caplog.text


def test_missing_fonts_say_how_to_install_them(tmp_path: Path) -> None:
    (tmp_path / FONT_FILES["receipt"][0]).write_bytes(
        (FONTS_DIR / FONT_FILES["receipt"][0]).read_bytes()
    )
    with pytest.raises(ReceiptFontsMissing) as missing:
        check_receipt_fonts(tmp_path)
    message = str(missing.value)
    assert "make install" in message and "npm ci" in message
    assert "NotoSansHans-Regular.otf" in message
    assert FONT_FILES["receipt"][0] not in message  # the one that is there
    check_receipt_fonts()  # the installed ones are complete
