"""Receipt PDFs print names in every script the customers have, with the fonts embedded:
what a reader sees and copies is the name as typed (read back with pypdf)."""

from __future__ import annotations

import dataclasses
import io
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fontTools.cffLib import CFFFontSet  # type: ignore[import-untyped]
from fontTools.pens.recordingPen import (  # type: ignore[import-untyped]
    DecomposingRecordingPen,
    RecordingPen,
)
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
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
        resources: Any = page["/Resources"]
        for font in resources["/Font"].values():
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


def test_the_embedded_cjk_glyphs_draw_as_the_font_draws_them() -> None:
    name = f"{NAMES['japanese']} {NAMES['chinese']}"
    pdf = render_receipt_pdf(receipt_for(name))
    (program,) = [
        descriptor["/FontFile3"].get_data()  # type: ignore[index]
        for descriptor in embedded_fonts(pdf).values()
        if "/FontFile3" in descriptor  # type: ignore[operator]
    ]
    embedded = CFFFontSet()
    embedded.decompile(io.BytesIO(program), None)

    def outline(charstrings: object, glyph: str) -> list[object]:
        pen = RecordingPen()
        charstrings[glyph].draw(pen)  # type: ignore[index]
        return list(pen.value)

    with TTFont(FONTS_DIR / FONT_FILES["receiptcjk"][0], lazy=True) as font:
        glyph_names = font.getBestCmap()
        original = font["CFF "].cff[0].CharStrings
        for char in set(name) - {" "}:
            glyph = glyph_names[ord(char)]  # the CID's name: the subset keeps the CIDs
            assert outline(embedded[0].CharStrings, glyph) == outline(original, glyph), char


def test_the_embedded_latin_glyphs_draw_as_the_font_draws_them() -> None:
    # A character reaches its glyph through the document's code for it (ToUnicode says
    # which), the code-to-glyph map and the cut font: each step comes from a cache.
    name = f"{NAMES['greek']} {NAMES['latin']}"
    pdf = render_receipt_pdf(receipt_for(name))
    resources: Any = PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]
    (regular,) = [
        font.get_object()
        for font in resources["/Font"].values()
        if font.get_object()["/BaseFont"] == "/MPDFAA+NotoSans"
    ]
    descendant = regular["/DescendantFonts"][0].get_object()
    to_unicode = regular["/ToUnicode"].get_data().decode()
    code_of = {
        chr(int(char, 16)): int(code, 16)
        for code, char in re.findall(r"<([0-9A-F]{4})> <([0-9A-F]{4})>", to_unicode)
    }
    glyph_of_code = descendant["/CIDToGIDMap"].get_data()
    program = descendant["/FontDescriptor"]["/FontFile2"].get_data()

    def outline(font: TTFont, glyph: str) -> list[object]:
        glyphs = font.getGlyphSet()
        pen = DecomposingRecordingPen(glyphs)
        glyphs[glyph].draw(pen)
        return list(pen.value)

    with TTFont(io.BytesIO(program)) as cut, TTFont(FONTS_DIR / FONT_FILES["receipt"][0]) as font:
        for char in set(name) - {" "}:
            code = code_of[char]
            glyph_id = int.from_bytes(glyph_of_code[2 * code : 2 * code + 2], "big")
            expected = outline(font, font.getBestCmap()[ord(char)])
            assert outline(cut, cut.getGlyphOrder()[glyph_id]) == expected, char


def test_the_same_receipt_gives_the_same_bytes_from_any_thread() -> None:
    receipts = [receipt_for(name) for name in NAMES.values()]
    alone = [render_receipt_pdf(receipt) for receipt in receipts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(render_receipt_pdf, receipts * 3))
    assert together == alone * 3


def test_receipts_rendered_one_after_another_each_show_only_their_own_name() -> None:
    # The fonts and their subsets are shared by every receipt of the process: what one
    # receipt drew must not reach the next one's text or fonts.
    order = ["japanese", "greek", "arabic", "latin", "japanese", "cyrillic"]
    pdfs = [render_receipt_pdf(receipt_for(NAMES[script])) for script in order]
    for script, pdf in zip(order, pdfs, strict=True):
        text = read_back(pdf)
        (line,) = [line for line in text.splitlines() if line.startswith("Customer ")]
        assert NAMES[script] in line
        others = {NAMES[other] for other in order if other != script}
        assert not [name for name in others if name in text]
    greek_fonts = embedded_fonts(pdfs[1])  # drawn right after a Japanese receipt
    assert sorted(greek_fonts) == ["/MPDFAA+NotoSans", "/MPDFAA+NotoSansBold"]
    assert pdfs[4] == pdfs[0]  # the same receipt again, after three others


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
