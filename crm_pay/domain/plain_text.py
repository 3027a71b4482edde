"""Plain text for admins: an error a CRM answered with (often a whole HTML page) made
readable, and settings shown without the credentials some of them carry.

Pure, standard library only."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit, urlunsplit

__all__ = ["READABLE_ERROR_MAX", "masked_setting", "readable_error"]

_SECRET_NAME = re.compile(r"secret|token|password|passwd|api_?key|private", re.IGNORECASE)


def masked_setting(key: str, value: object) -> str:
    """``value`` as the version history shows it: a setting named like a credential,
    or the password in a URL, replaced by dots."""
    text = str(value)
    if _SECRET_NAME.search(key) and text:
        return "••••••"
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if parts.password:  # a URL with credentials in it: keep the rest readable
        netloc = f"{parts.username or ''}:••••••@{parts.hostname or ''}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    return text


class _TextOnly(HTMLParser):
    """The text of an HTML page, without its scripts and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


_HTML = re.compile(r"<\s*(!doctype|html|body|head|div|p|h\d|title|pre|span|br)\b", re.IGNORECASE)
READABLE_ERROR_MAX = 300


def _as_text(text: str) -> str:
    if _HTML.search(text):
        parser = _TextOnly()
        parser.feed(text)
        parser.close()
        text = " ".join(parser.parts)
    return " ".join(text.split())


def readable_error(error: str | None, *, limit: int = READABLE_ERROR_MAX) -> str | None:
    """A dead letter's error as one short line of plain text: an HTML error page from a
    CRM reduced to its words, and the CRM's answer shown once even where the stored
    error repeats it (``<our error> | CRM said: <their answer>``)."""
    if not error:
        return error
    parts: list[str] = []
    for raw in error.split(" | CRM said: "):
        text = _as_text(raw)
        if text and not any(text in p for p in parts):
            parts = [p for p in parts if p not in text] + [text]
    joined = " | CRM said: ".join(parts)
    return joined if len(joined) <= limit else joined[: limit - 1].rstrip() + "…"
