"""Branding rules: WCAG contrast figures, readable accent colours, logo types by content."""

from __future__ import annotations

import pytest

from crm_pay.domain.branding import MAX_LOGO_BYTES, contrast_ratio, image_type, readable_accent
from crm_pay.domain.errors import ValidationError


def test_contrast_ratio_matches_wcag_figures() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    # the figures the customer-page footer was measured with
    assert contrast_ratio("#7b8794", "#f4f6f8") == pytest.approx(3.37, abs=0.01)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # WCAG's grey


@pytest.mark.parametrize("colour", ["#0B6BCB", "#1a4d2e", "#767676", " #000000 "])
def test_dark_enough_colours_are_kept_in_lower_case(colour: str) -> None:
    assert readable_accent(colour) == colour.strip().lower()


@pytest.mark.parametrize(
    ("colour", "words"),
    [
        ("#ffd966", "too light"),
        ("#777777", "too light"),
        ("red", "six hex digits"),
        ("#12345", "six hex"),
    ],
)
def test_unreadable_or_malformed_colours_are_refused_with_how_to_fix(
    colour: str, words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        readable_accent(colour)


def test_logos_are_recognised_by_their_bytes_not_their_name() -> None:
    assert image_type(b"\x89PNG\r\n\x1a\n" + b"\0" * 20) == "image/png"
    assert image_type(b"\xff\xd8\xff\xe0" + b"\0" * 20) == "image/jpeg"
    for data in (b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"GIF89a....", b""):
        with pytest.raises(ValidationError, match="PNG or JPEG"):
            image_type(data)
    with pytest.raises(ValidationError, match="at most 256 KiB"):
        image_type(b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_LOGO_BYTES)
