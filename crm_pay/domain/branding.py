"""Rules for the merchant's look on the customer pages: colours that stay readable and
logo images that are what they claim to be. Pure functions, no I/O.

The accent colour fills the pay button and the links, with white text on the button, so
a colour is accepted only when white on it reaches WCAG 2.2's 4.5:1 contrast (success
criterion 1.4.3, small text); the ratio and relative luminance are WCAG's formulas. A
logo is accepted as PNG or JPEG only, recognised by its first bytes (an SVG could carry
script), at most :data:`MAX_LOGO_BYTES`.
"""

from __future__ import annotations

import re
from typing import Final

from .errors import ValidationError

__all__ = [
    "MAX_LOGO_BYTES",
    "MIN_CONTRAST",
    "contrast_ratio",
    "image_type",
    "readable_accent",
]

MAX_LOGO_BYTES: Final = 256 * 1024
MIN_CONTRAST: Final = 4.5
_HEX: Final = re.compile(r"#[0-9a-fA-F]{6}")
_WHITE: Final = "#ffffff"


def _luminance(colour: str) -> float:
    channels = []
    for i in (1, 3, 5):
        c = int(colour[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours, 1.0 to 21.0."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def readable_accent(text: str) -> str:
    """``text`` as an accent colour (``#rrggbb``, lower case), or a ValidationError that
    says what is wrong and how to fix it."""
    colour = text.strip()
    if not _HEX.fullmatch(colour):
        raise ValidationError(
            f"colour {colour!r} is not a colour: write it as # and six hex digits, e.g. #0b6bcb"
        )
    ratio = contrast_ratio(colour.lower(), _WHITE)
    if ratio < MIN_CONTRAST:
        raise ValidationError(
            f"colour {colour} is too light: white button text on it has a contrast of "
            f"{ratio:.2f}:1, and customers need at least {MIN_CONTRAST}:1 to read it "
            "(WCAG 2.2 AA); choose a darker shade"
        )
    return colour.lower()


def image_type(data: bytes) -> str:
    """The media type of a logo (``image/png`` or ``image/jpeg``) from its first bytes, or
    a ValidationError naming what is accepted."""
    if len(data) > MAX_LOGO_BYTES:
        raise ValidationError(
            f"the logo is {len(data) // 1024} KiB; at most {MAX_LOGO_BYTES // 1024} KiB is "
            "accepted (a logo of about 400x120 pixels is plenty)"
        )
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    raise ValidationError("the logo must be a PNG or JPEG image (SVG and others are refused)")
