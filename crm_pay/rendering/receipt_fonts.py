"""The Unicode fonts of receipt PDFs, parsed once per process and embedded as subsets.

Receipts print names in any script, so the PDF embeds Noto fonts (SIL Open Font License,
``OFL.txt`` next to them): Noto Sans regular and bold for Latin, Greek and Cyrillic,
with Noto Sans CJK (simplified Chinese, which also holds Japanese kana and kanji), Noto
Sans KR (Hangul) and Noto Naskh Arabic for what Noto Sans lacks (:func:`font_runs` picks
the font of each character). ``make install`` copies them from the npm packages pinned
in ``package-lock.json`` into :data:`FONTS_DIR`. A character none of them has (an emoji)
is left blank and logged, never replaced by ``?``.

Two costs are paid once per process instead of once per receipt, because they dwarf the
drawing: reading a font (the CJK one is 8 MB, 30,000 glyphs) and cutting the subset of
the glyphs a receipt uses (fontTools takes 30 to 50 ms of CPU per font). Each PDF gets light
copies of the parsed fonts it uses (:func:`use_receipt_font`) and :class:`SubsetFontsProducer`
embeds the subsets from a cache keyed by the glyphs used. Latin-script fonts are cut by
whole Unicode blocks, so receipts in one language share one subset. Everything cached is
read-only once built and the caches are filled under a lock: renderers in several
threads share them.

fpdf2 (2.8) has no public way to do either: ``FPDF.add_font`` parses the file for each
document and ``FPDF.output`` cuts every font again. The fonts are therefore handed to a
document through its public ``fonts`` table, and the one private hook taken is fpdf2's
``OutputProducer._add_fonts``, overridden by :class:`SubsetFontsProducer` (which adds
its objects with the producer's ``_add_pdf_obj``) and passed to ``output`` through its
public ``output_producer_class`` argument. An fpdf2 without that method stops the import
of this module, saying so, rather than let fpdf2's own writer cut the shared parsed
fonts in place.
"""

from __future__ import annotations

import copy
import logging
import threading
import unicodedata
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, Final

from fontTools import subset as ftsubset  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.fonts import Glyph, SubsetMap, TTFFont
from fpdf.output import CIDSystemInfo, OutputProducer, PDFFont
from fpdf.syntax import Name, PDFArray, PDFContentStream, PDFString

from crm_pay.domain.errors import ConfigurationError

from .arabic_script import display_order, has_arabic

__all__ = [
    "FONTS_DIR",
    "FONT_FILES",
    "FAMILY",
    "ReceiptFontsMissing",
    "use_receipt_font",
    "font_runs",
    "check_receipt_fonts",
    "SubsetFontsProducer",
]

log = logging.getLogger("crm_pay.rendering")

#: Where ``make install`` puts the fonts (git-ignored).
FONTS_DIR: Final = Path(__file__).with_name("fonts")
#: The family receipts are set in; its fallbacks are added under their own names.
FAMILY: Final = "receipt"
#: fpdf2 font key -> (file, cut by whole Unicode blocks). Keys are fpdf2's: family + style.
FONT_FILES: Final = {
    "receipt": ("NotoSans-Regular.ttf", True),
    "receiptB": ("NotoSans-Bold.ttf", True),
    "receiptcjk": ("NotoSansHans-Regular.otf", False),
    "receiptkorean": ("NotoSansKR-Regular.otf", False),
    "receiptarabic": ("NotoNaskhArabic-Regular.ttf", False),
}
# In the order they are looked in: the small Arabic font first, the CJK one before the
# Korean one (which has Chinese characters too, drawn the Korean way).
FALLBACKS: Final = ("receiptarabic", "receiptcjk", "receiptkorean")
_LICENCE: Final = "OFL.txt"
# Tables a PDF viewer never reads from an embedded font: layout (GSUB/GPOS: text is laid
# out by us), vertical metrics, hinting, colour and bitmaps. Dropped before cutting.
_KEEP_TABLES: Final = frozenset(
    {"head", "hhea", "maxp", "hmtx", "loca", "glyf", "post", "OS/2", "name", "cmap"}
)
# A CFF font (CJK, Korean) is embedded as its bare CFF program: the other tables are only
# what fontTools needs to open and cut it. Without them (the cmap and widths of 30,000
# glyphs) a cut reads a quarter as much.
_KEEP_TABLES_CFF: Final = frozenset({"head", "maxp", "post", "CFF "})
_BLOCK: Final = 32  # code points per block when a font is cut by blocks
_SUBSETS_KEPT: Final = 1024  # per process, all fonts together: a few KB each


class ReceiptFontsMissing(ConfigurationError):
    """The receipt fonts (or their licence) are not installed: a receipt is never printed
    with ``?`` instead."""

    code = "receipt_fonts_missing"


def check_receipt_fonts(directory: Path = FONTS_DIR) -> None:
    """Raise :class:`ReceiptFontsMissing`, saying how to install them, when a font is missing."""
    names = [name for name, _ in FONT_FILES.values()] + [_LICENCE]
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        raise ReceiptFontsMissing(
            f"receipt fonts missing in {directory}: {', '.join(missing)}. Run `make install` "
            "(it runs `npm ci` and copies them from node_modules/@embedpdf/fonts-*/fonts/)."
        )


@dataclass(frozen=True, slots=True)
class _Subset:
    """A cut font: the program to embed (deflated once, here, not once per document),
    its size before that, and, per original glyph id, its id in the cut."""

    deflated: bytes
    size: int
    glyph_ids: dict[int, int]


class _FontCache:
    """Parsed fonts and cut subsets, shared by every receipt of the process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._templates: dict[str, TTFFont] = {}
        self._stripped: dict[str, bytes] = {}
        self._subsets: OrderedDict[tuple[str, frozenset[int]], _Subset] = OrderedDict()

    def font(self, fontkey: str) -> TTFFont:
        """The parsed font, read on first use: a fallback only when a receipt first
        needs it (the CJK font takes about a second)."""
        found = self._templates.get(fontkey)
        if found is not None:
            return found
        with self._lock:
            if fontkey not in self._templates:
                check_receipt_fonts(self.directory)  # all of them: one error lists all
                owner = FPDF()  # fpdf2 parses a font for a document: this one is thrown away
                name = FONT_FILES[fontkey][0]
                style = "B" if fontkey.endswith("B") else ""
                font = TTFFont(owner, self.directory / name, fontkey, style)
                font.ttfont.close()  # metrics are copied out; subsets are cut from bytes
                self._templates[fontkey] = font
            return self._templates[fontkey]

    def subset(self, fontkey: str, glyph_ids: frozenset[int]) -> _Subset:
        """The cut of ``fontkey`` holding ``glyph_ids``. A miss is cut outside the lock, so
        other receipts go on meanwhile (two threads may cut the same one: same bytes)."""
        key = (fontkey, glyph_ids)
        with self._lock:
            found = self._subsets.get(key)
            if found is not None:
                self._subsets.move_to_end(key)
                return found
            stripped = self._stripped.get(fontkey)
        if stripped is None:
            stripped = _stripped(self.directory / FONT_FILES[fontkey][0])
        cut = _cut(stripped, glyph_ids)
        with self._lock:
            self._stripped.setdefault(fontkey, stripped)
            self._subsets[key] = cut
            if len(self._subsets) > _SUBSETS_KEPT:
                self._subsets.popitem(last=False)
        return cut


def _stripped(path: Path) -> bytes:
    """The font without the tables an embedded font does not need, as bytes to cut from."""
    full = TTFont(path, recalcTimestamp=False)
    keep = _KEEP_TABLES if "glyf" in full else _KEEP_TABLES_CFF
    for tag in [tag for tag in full.keys() if tag not in keep]:  # noqa: SIM118
        if tag != "GlyphOrder":
            del full[tag]
    if "glyf" in full:
        full["post"].formatType = 3.0  # no glyph names: glyphs go by id
    out = BytesIO()
    full.save(out)
    return out.getvalue()


def _cut(stripped: bytes, glyph_ids: frozenset[int]) -> _Subset:
    font = TTFont(BytesIO(stripped), lazy=True, recalcTimestamp=False)
    order = font.getGlyphOrder()  # the original ids, named as this copy names them
    # Subroutines inlined (CFF only): the few glyphs of a receipt need few of them, and
    # sorting out which of a 30,000-glyph font's subroutines they use costs more than
    # the cut itself; the outlines are the same, the program smaller.
    options = ftsubset.Options(notdef_outline=True, desubroutinize=True)
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(gids=sorted(glyph_ids))
    subsetter.subset(font)
    new_ids = {gid: font.getGlyphID(order[gid]) for gid in glyph_ids}
    if "CFF " in font:
        program = font["CFF "].compile(font)  # a CID-keyed CFF is embedded bare
    else:
        out = BytesIO()
        font.save(out)
        program = out.getvalue()
    return _Subset(zlib.compress(program), len(program), new_ids)


_CACHE = _FontCache(FONTS_DIR)


def use_receipt_font(pdf: FPDF, family: str) -> None:
    """Give ``pdf`` the receipt font ``family`` (an fpdf2 font key) unless it has it: a
    copy of the parsed font with a subset of its own (the glyphs this document uses)."""
    if family in pdf.fonts:
        return
    # A shallow copy: the metrics (cmap, widths, glyph ids) are read-only and shared; what
    # a document changes (its number, its subset, the glyphs it lacked) is its own. Slot by
    # slot: copy.copy of a slotted object takes ten times as long.
    template = _CACHE.font(family)
    font = TTFFont.__new__(TTFFont)
    for slot in TTFFont.__slots__:
        if hasattr(template, slot):  # fpdf2 leaves some slots unset
            setattr(font, slot, getattr(template, slot))
    font.i = len(pdf.fonts) + 1
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.subset = _CidMap(font) if font.is_cid_keyed else SubsetMap(font)
    pdf.fonts[family] = font
    if font.is_cid_keyed:  # CID-keyed CFF (the CJK font) needs PDF 1.6, as add_font says
        pdf.pdf_version = max(pdf.pdf_version, "1.6")


class _CidMap(SubsetMap):
    """The codes of a CID-keyed font: each glyph's own CID, so that the text is shown
    through the plain Identity-H encoding (which text extractors read) and the subset
    keeps the CIDs the font program has. It keeps its own table: nothing of
    :class:`SubsetMap`'s numbering is used."""

    def __init__(self, font: TTFFont) -> None:
        self.font = font
        self._cid_per_glyph: dict[Glyph, int] = {}

    def __repr__(self) -> str:
        return f"_CidMap(font={self.font.fontkey}, glyphs={len(self)})"

    def __len__(self) -> int:
        return len(self._cid_per_glyph)

    def items(self) -> Iterator[tuple[Glyph | None, int]]:
        yield from self._cid_per_glyph.items()

    def pick_glyph(self, glyph: Glyph | None) -> int | None:
        if glyph is None:
            return None
        return self._cid_per_glyph.setdefault(glyph, int(glyph.glyph_name[3:]))


@lru_cache(maxsize=8192)
def font_runs(text: str, bold: bool = False) -> tuple[tuple[str, str, str, float], ...]:
    """``text`` cut into runs of one font each: (family, style, run, width in 1/1000 em),
    in the order they are drawn (Arabic shaped and right to left: :mod:`.arabic_script`).

    A character goes to the receipt font if it has it, else to the first fallback that
    has it (CJK, Arabic), else stays in the receipt font (drawn as its empty box: a
    name is never replaced by ``?``). Cached: labels, amounts and product names repeat
    from receipt to receipt."""
    main = _CACHE.font(FAMILY + ("B" if bold else ""))
    if text and text.isascii() and all(ord(char) in main.cmap for char in text):
        # Most strings (numbers, amounts, dates, labels): one run, as the loop below
        # would make it, without the loop.
        width = sum(main.cw.get(ord(char), main.desc.missing_width) for char in text)
        return ((FAMILY, "B" if bold else "", text, width),)

    def font_of(char: str) -> TTFFont:
        code = ord(char)
        if code in main.cmap:
            return main
        fallbacks = (_CACHE.font(key) for key in FALLBACKS)
        return next((font for font in fallbacks if code in font.cmap), main)

    drawn = display_order(text) if has_arabic(text) else text
    chosen = [font_of(char) for char in drawn]
    # A space between two words of one fallback font stays in their run: an Arabic run
    # must be one string, or readers put its words back in the wrong order.
    for i, char in enumerate(drawn):
        if char.isspace() and 0 < i < len(drawn) - 1:
            before, after = chosen[i - 1], chosen[i + 1]
            if before is after and before is not main and ord(char) in before.cmap:
                chosen[i] = before
    runs: list[tuple[str, str, str, float]] = []
    for char, font in zip(drawn, chosen, strict=True):
        family, style = (FAMILY, "B" if bold else "") if font is main else (font.fontkey, "")
        advance = font.cw.get(ord(char), font.desc.missing_width)  # .get: the dict is shared
        if runs and runs[-1][0] == family:
            _, _, run, width = runs[-1]
            runs[-1] = (family, style, run + char, width + advance)
        else:
            runs.append((family, style, char, advance))
    return tuple(runs)


def _unicode_block_glyphs(font: TTFFont, used: Iterable[int]) -> frozenset[int]:
    return _glyphs_of_blocks(font.fontkey, frozenset(code // _BLOCK for code in used))


@lru_cache(maxsize=1024)
def _glyphs_of_blocks(fontkey: str, blocks: frozenset[int]) -> frozenset[int]:
    font = _CACHE.font(fontkey)
    return frozenset(gid for code, gid in font.glyph_ids.items() if code // _BLOCK in blocks)


def _codes(glyph: Glyph) -> tuple[int, ...]:
    """The characters a glyph stands for (several for a ligature)."""
    return glyph.unicode if isinstance(glyph.unicode, tuple) else (glyph.unicode,)


def _spoken(code: int) -> str:
    """What a glyph's character reads as: an Arabic presentation form (how
    :mod:`.arabic_script` draws a letter) is its letter again."""
    char = chr(code)
    return unicodedata.normalize("NFKC", char) if 0xFB50 <= code <= 0xFEFF else char


def _hex(code: int) -> str:
    if code > 0xFFFF:  # UTF-16 surrogate pair
        code -= 0x10000
        return f"{0xD800 | code >> 10:04X}{0xDC00 | code & 0x3FF:04X}"
    return f"{code:04X}"


def _cmap_stream(name: str, system: tuple[str, str, int], kind: str, lines: list[str]) -> bytes:
    registry, ordering, supplement = system
    blocks = "".join(
        f"{len(lines[i : i + 100])} begin{kind}\n{''.join(lines[i : i + 100])}end{kind}\n"
        for i in range(0, len(lines), 100)
    )
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        f"/CIDSystemInfo\n<</Registry ({registry})\n/Ordering ({ordering})\n"
        f"/Supplement {supplement}\n>> def\n/CMapName /{name} def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        f"{blocks}endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
    ).encode("latin-1")


def _widths(widths: dict[int, int]) -> str:
    """The ``/W`` array: ``[code [width] code [width] ...]`` in code order."""
    return "[" + " ".join(f"{code} [{width}]" for code, width in sorted(widths.items())) + "]"


if not callable(getattr(OutputProducer, "_add_fonts", None)):  # pragma: no cover
    raise ImportError(
        "this fpdf2 has no OutputProducer._add_fonts, which receipt PDFs override to embed "
        "the cached font subsets: pin fpdf2 to a 2.8 release in pyproject.toml"
    )


class SubsetFontsProducer(OutputProducer):
    """fpdf2's PDF writer, embedding the receipt fonts from the process's subset cache
    instead of cutting each font again for every document. Fonts a document never used
    (the fallbacks of an all-Latin receipt) are left out."""

    def _add_fonts(self, *args: Any, **kwargs: Any) -> dict[int, Any]:
        objects: dict[int, Any] = {}
        for font in sorted(self.fpdf.fonts.values(), key=lambda font: font.i):
            if not isinstance(font, TTFFont):  # a core font: receipts never set one
                raise TypeError(f"receipt PDFs embed their fonts; {font.fontkey} is a core font")
            glyphs = [(glyph, code) for glyph, code in font.subset.items() if glyph is not None]
            if all(_codes(glyph) == (0x20,) for glyph, _ in glyphs):
                continue  # only the space fpdf2 reserves in every font: never used
            ids = {glyph.glyph_id for glyph, _ in glyphs}
            if FONT_FILES[font.fontkey][1]:
                ids |= _unicode_block_glyphs(
                    font, (code for glyph, _ in glyphs for code in _codes(glyph))
                )
            if font.missing_glyphs:
                log.warning(
                    "receipt PDF: no receipt font has %s; left blank",
                    ", ".join(f"U+{code:04X}" for code in font.missing_glyphs[:10]),
                )
            cut = _CACHE.subset(font.fontkey, frozenset(ids))
            objects[font.i] = self._embed(font, glyphs, cut)
        # fpdf2 memoises glyph look-ups per subset map on the class: let this one go.
        SubsetMap.pick.cache_clear()
        SubsetMap.get_glyph.cache_clear()
        return objects

    def _embed(self, font: TTFFont, glyphs: list[Any], cut: _Subset) -> PDFFont:
        base_name = f"MPDFAA+{font.name}"
        top = PDFFont(subtype="Type0", base_font=base_name, encoding="Identity-H")
        self._add_pdf_obj(top, "fonts")
        # A TrueType font's codes are the document's own (fpdf2 numbers glyphs as it
        # meets them), mapped to glyph ids; a CID-keyed CFF font's are its CIDs.
        cff = font.is_cff and font.is_cid_keyed
        widths = {code: glyph.glyph_width for glyph, code in glyphs}
        descendant = PDFFont(
            subtype="CIDFontType0" if cff else "CIDFontType2",
            base_font=base_name,
            d_w=font.desc.missing_width,
            w=_widths(widths),
        )
        self._add_pdf_obj(descendant, "fonts")
        top.descendant_fonts = PDFArray([descendant])

        unicode_lines = [
            f"<{code:04X}> <{''.join(_hex(ord(c)) for u in _codes(glyph) for c in _spoken(u))}>\n"
            for glyph, code in sorted(glyphs, key=lambda pair: pair[1])
            if _codes(glyph)
        ]
        to_unicode = PDFContentStream(
            _cmap_stream("Adobe-Identity-UCS", ("Adobe", "UCS", 0), "bfchar", unicode_lines),
            compress=self.fpdf.compress,
        )
        self._add_pdf_obj(to_unicode, "fonts")
        top.to_unicode = to_unicode

        system = font.cff_ros if cff and font.cff_ros else ("Adobe", "Identity", 0)
        if not cff:
            gid_map = bytearray(2 * (max(code for _, code in glyphs) + 1))
            for glyph, code in glyphs:
                gid = cut.glyph_ids[glyph.glyph_id]
                gid_map[2 * code : 2 * code + 2] = gid.to_bytes(2, "big")
            gid_stream = PDFContentStream(contents=bytes(gid_map), compress=True)
            self._add_pdf_obj(gid_stream, "fonts")
            descendant.c_i_d_to_g_i_d_map = gid_stream
        info = CIDSystemInfo()
        info.registry = PDFString(system[0], encrypt=True)
        info.ordering = PDFString(system[1], encrypt=True)
        info.supplement = system[2]
        self._add_pdf_obj(info, "fonts")
        descendant.c_i_d_system_info = info

        descriptor = copy.copy(font.desc)  # the parsed font's is shared by every document
        descriptor.font_name = Name(base_name)
        self._add_pdf_obj(descriptor, "fonts")
        descendant.font_descriptor = descriptor
        program = PDFContentStream(contents=cut.deflated)
        program.filter = Name("FlateDecode")
        program.length1 = cut.size  # type: ignore[attr-defined]
        if cff:
            program.subtype = Name("CIDFontType0C")  # type: ignore[attr-defined]
        self._add_pdf_obj(program, "fonts")
        if cff:
            descriptor.font_file3 = program  # type: ignore[attr-defined]
        else:
            descriptor.font_file2 = program  # type: ignore[attr-defined]
        return top
