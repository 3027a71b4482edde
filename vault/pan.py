"""Find and redact card numbers (PANs) in free text, JSON-like payloads and log records.

What counts as a PAN here:

* 13 to 19 decimal digits, written together or split by any mix and number of the
  separators a person types or a keyboard, phone or word processor inserts: spaces of
  every kind (space, tab, line breaks, no-break U+00A0, narrow no-break U+202F, thin,
  ideographic...), invisible characters (zero-width U+200B-U+200D, word joiner U+2060,
  BOM, soft hyphen U+00AD, direction marks), hyphens and dashes, dots, slashes and
  underscores, in their ASCII and full-width forms (``4111 1111 1111 1111``,
  ``4111  1111\t1111-1111``, ``4111/1111/1111/1111``, ``4111_1111 - 1111.1111``);
* in any script's decimal digits (ASCII, full-width ``４１１１``, Arabic-Indic
  ``٤١١١``, Devanagari...: everything Unicode files as a decimal digit, category Nd);
* never a slice of a longer unbroken run of digits (a 20-digit reference is not a card);
* starting like a card of the payment brands PCI DSS covers: ``3``, ``4``, ``5``, ``6``
  or Mastercard's ``2221``-``2720``. This drops timestamps in milliseconds, years and
  most internal ids, which would otherwise pass the Luhn check one time in ten;
* passing the Luhn check;
* and not one of two shapes that are something else by construction: a phone number in
  international form (``+`` directly before the digits and at most 15 digits, the E.164
  maximum; a 16-19 digit card after a ``+`` is still caught) and digits that belong to
  a canonical UUID (``8-4-4-4-12`` hex digits, whose all-decimal groups joined by
  hyphens would otherwise pass the checks above now and then).

Commas, colons and plus signs never join digits, so amounts (``1,234.56``), clock times
and ``+1 212 555 0101`` stay apart from their neighbours.

A digit group is never split: in ``4111 1111 1111 1111 1226 123`` the card is found as
the first four groups, so a card followed by an expiry date or a quantity is still
caught. When several windows of groups qualify, the longest one starting leftmost wins,
which redacts at least the whole card. A match spans from its first digit to its last,
the separators between them included; the text around it is left as it was.

There is deliberately no CVV guard. A CVV is three or four digits with no check digit,
so in free text it cannot be told apart from a quantity, an amount, a year or an
extension number; a detector would either redact half of every note or miss CVVs.
CVVs are kept out by construction instead: they are only ever typed into PSP-hosted
fields or keyed by DTMF at the telephony provider.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "REDACTED_PAN",
    "PanMatch",
    "find_pans",
    "contains_pan",
    "redact",
    "redact_obj",
    "PanRedactingFilter",
    "install_pan_filter",
]

#: What a detected card number is replaced with. No last four: in free text even a
#: partial number helps nobody and the last four alone may identify the card holder.
REDACTED_PAN = "[REDACTED PAN]"

_MIN_DIGITS = 13
_MAX_DIGITS = 19
# E.164: a phone number has at most 15 digits, country code included.
_MAX_PHONE_DIGITS = 15

# What may stand between two digits of one card, as a regex character class body.
# ``\s`` is every Unicode space (tab, line breaks, U+00A0, U+1680, U+2000-U+200A,
# U+2028/9, U+202F, U+205F, U+3000). The rest are characters that are not spaces to
# Python but are invisible or read as a separator: a pasted number often carries a
# soft hyphen, zero-width space or word joiner from a web page or a word processor.
_SEPARATOR_CLASS = (
    r"\s"
    r"\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
    r"\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"  # hyphen-minus, Unicode dashes, minus
    r".\u00b7\u2024\u2027\u30fb\uff0e"  # full stop, middle dots, full-width stop
    r"/\u2044\u2215\uff0f"  # solidus, fraction and division slash, full-width
    r"_\uff3f"  # low line, full-width
)
# A maximal run of digits joined by separators, with at least 13 digits in total. The
# leading ``\d`` lets the engine skip to the next digit in C before trying anything;
# the lookbehind then checks that the run does not start inside a group. Possessive
# quantifiers (``*+``, ``{12,}+``) never give back what they took, so a run is
# matched in one pass however many separators it holds: there is no backtracking.
_CANDIDATE_RUN = re.compile(rf"\d(?<!\d\d)(?:[{_SEPARATOR_CLASS}]*+\d){{12,}}+")
_DIGIT_GROUP = re.compile(r"\d+")
_UUID = re.compile(
    r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f])"
)
_UUID_LENGTH = 36
_PHONE_PREFIXES = frozenset("+\uff0b")  # plus sign, full-width plus sign
# First digits of the brands PCI DSS covers (a "2" must also be Mastercard 2221-2720).
_CARD_LEADS = frozenset("23456")
_NON_DIGIT_BYTES = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)


@dataclass(frozen=True, slots=True)
class PanMatch:
    """Where a card number sits in the text: ``text[start:end]``, separators included.

    The digits themselves are not copied into the match, so a stray ``repr`` of a match
    in a log line does not leak the card.
    """

    start: int
    end: int
    digit_count: int


def find_pans(text: str) -> list[PanMatch]:
    """Return the card numbers in ``text``, left to right, non-overlapping."""
    return list(_iter_pans(text))


def contains_pan(text: str) -> bool:
    """True if ``text`` holds at least one card number."""
    return next(_iter_pans(text), None) is not None


def redact(text: str) -> str:
    """Return ``text`` with every card number replaced by ``[REDACTED PAN]``."""
    return _redact_counting(text)[0]


def redact_obj(obj: Any) -> tuple[Any, int]:
    """Redact every string inside a JSON-like value; return ``(copy, number of PANs)``.

    Dicts (keys and values), lists and tuples are walked and rebuilt; strings are
    redacted; any other value (numbers, ``None``, booleans) is returned as is. A card
    number sent as a JSON number is not caught: the payloads we forward carry card data
    only as strings, and an integer cannot be partially redacted without changing type.
    """
    hits = [0]
    return _redacted(obj, hits), hits[0]


_UNCHANGED = frozenset({int, float, bool, type(None)})


def _redacted(obj: Any, hits: list[int]) -> Any:
    """:func:`redact_obj`'s walk, adding the PANs found to ``hits[0]``. The exact types
    of JSON are tested first (``type() is``, one comparison each): a receipt or a CRM
    payload is hundreds of short strings and numbers, and this walk runs on every one;
    subclasses (an ``OrderedDict``, a ``str`` enum) take the ``isinstance`` tests after."""
    kind = type(obj)
    if kind is str:
        return _redacted_text(obj, hits)
    if kind in _UNCHANGED:
        return obj
    if kind is dict or isinstance(obj, dict):
        # A key is walked before its value, as a dict display evaluates them; two keys
        # that redact alike keep the later value, as assigning them in turn would.
        return {_redacted(key, hits): _redacted(value, hits) for key, value in obj.items()}
    if kind is list or isinstance(obj, list):
        return [_redacted(item, hits) for item in obj]
    if isinstance(obj, str):
        return _redacted_text(obj, hits)
    if isinstance(obj, tuple):
        return tuple([_redacted(item, hits) for item in obj])
    return obj


def _redacted_text(text: str, hits: list[int]) -> str:
    if not _may_hold_pan(text):
        return text
    redacted, found = _redact_counting(text)
    hits[0] += found
    return redacted


def _may_hold_pan(text: str) -> bool:
    """False when ``text`` cannot hold a card number: fewer characters than a card has
    digits (in any script), or ASCII with fewer than 13 digits — counted in C, far
    cheaper than any regex scan. Non-ASCII text is always scanned, because ``\\d`` also
    matches e.g. the full-width digits a Japanese input method produces."""
    if len(text) < _MIN_DIGITS:
        return False
    return not (
        text.isascii() and len(text.encode("ascii").translate(None, _NON_DIGIT_BYTES)) < _MIN_DIGITS
    )


def _redact_counting(text: str) -> tuple[str, int]:
    matches = find_pans(text)
    if not matches:
        return text, 0
    pieces: list[str] = []
    position = 0
    for match in matches:
        pieces.append(text[position : match.start])
        pieces.append(REDACTED_PAN)
        position = match.end
    pieces.append(text[position:])
    return "".join(pieces), len(matches)


def _iter_pans(text: str) -> Iterator[PanMatch]:
    if not _may_hold_pan(text):  # the common case: most log lines, most notes
        return
    for run in _CANDIDATE_RUN.finditer(text):
        yield from _pans_in_run(text, run.start(), run.end())


def _pans_in_run(text: str, run_start: int, run_end: int) -> Iterator[PanMatch]:
    """Yield the leftmost-longest windows of whole digit groups that look like a card."""
    groups = [g.span() for g in _DIGIT_GROUP.finditer(text, run_start, run_end)]
    after_plus = run_start > 0 and text[run_start - 1] in _PHONE_PREFIXES
    uuids: list[tuple[int, int]] | None = None  # looked up once a window qualifies
    first = 0
    while first < len(groups):
        window_start = groups[first][0]
        if not _can_start_card(text[window_start]):
            first += 1
            continue
        best: tuple[PanMatch, int] | None = None
        digits = ""
        for last in range(first, len(groups)):
            start, end = groups[last]
            digits += text[start:end]
            if len(digits) > _MAX_DIGITS:
                break
            if len(digits) < _MIN_DIGITS or not _looks_like_card(digits):
                continue
            if first == 0 and after_plus and len(digits) <= _MAX_PHONE_DIGITS:
                continue  # "+4915123456789": an international phone number
            if uuids is None:
                uuids = _uuid_spans(text, run_start, run_end)
            # Overlap, not containment: a redaction that cut into a UUID would leave
            # a mangled UUID whose remains the next scan could take for a card.
            if any(u_start < end and window_start < u_end for u_start, u_end in uuids):
                continue
            best = PanMatch(window_start, end, len(digits)), last
        if best is None:
            first += 1
        else:
            yield best[0]
            first = best[1] + 1


def _uuid_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The UUIDs overlapping ``text[start:end]`` (a UUID may begin or end in letters)."""
    if text.find("-", start, end) == -1:
        return []
    around = _UUID.finditer(text, max(0, start - _UUID_LENGTH), end + _UUID_LENGTH)
    return [m.span() for m in around if m.start() < end and m.end() > start]


def _can_start_card(char: str) -> bool:
    """Whether a window starting with this digit is worth assembling (see the brands)."""
    return (char if char.isascii() else str(int(char))) in _CARD_LEADS


def _looks_like_card(digits: str) -> bool:
    if not digits.isascii():
        # Any Unicode decimal digit: int() reads each script's digits by their value.
        digits = "".join(str(int(char)) for char in digits)
    lead = digits[0]
    if lead == "2":
        if not 2221 <= int(digits[:4]) <= 2720:
            return False
    elif lead not in _CARD_LEADS:
        return False
    return _luhn_ok(digits)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 0x30
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# -- logging -------------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD_RECORD_ATTRS = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}
_TRACEBACK_FORMATTER = logging.Formatter()


class PanRedactingFilter(logging.Filter):
    """A logging filter that rewrites records so no card number reaches a handler.

    It never drops a record. When the formatted message holds a card number, the
    redacted text becomes ``record.msg`` and ``record.args`` is cleared. A traceback
    holding one is rendered, redacted and stored in ``record.exc_text`` (``exc_info``
    is cleared, so the handler prints the redacted text instead of re-rendering it).
    String, dict, list and tuple values passed through ``extra=`` are redacted too.

    ASCII text with fewer than 13 digits is cleared by one digit count in C, so the
    cost on an ordinary log line is one ``getMessage()`` and a few microseconds.

    Attach it to **handlers** (see :func:`install_pan_filter`): filters on a logger only
    see records logged on that very logger, not those propagated from its children.
    """

    def __init__(self) -> None:
        # No ``name``: a named filter drops records from other loggers, and this
        # filter must only ever rewrite, never drop.
        super().__init__()

    def filter(self, record: logging.LogRecord) -> bool:
        self._redact_message(record)
        self._redact_exception(record)
        self._redact_extras(record)
        return True

    @staticmethod
    def _redact_message(record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            formatted = True
        except Exception:  # noqa: BLE001 - a filter must never make a log call raise
            # The call had a bad format string or bad args. Keep what it said, checked,
            # instead of letting the handler print the raw msg/args to stderr.
            try:
                message = f"{record.msg!r} % {record.args!r}"
            except Exception:  # noqa: BLE001 - even repr() of the args failed
                message = "<log message that could not be rendered>"
            formatted = False
        redacted, hits = _redact_counting(message)
        if hits or not formatted:
            record.msg = redacted
            record.args = None
        # A formatter that ran before us leaves its rendering behind in ``message``.
        cached = record.__dict__.get("message")
        if isinstance(cached, str) and contains_pan(cached):
            record.message = redact(cached)

    @staticmethod
    def _redact_exception(record: logging.LogRecord) -> None:
        if record.exc_info:
            text = record.exc_text or _TRACEBACK_FORMATTER.formatException(record.exc_info)
            redacted, hits = _redact_counting(text)
            if hits:
                record.exc_text = redacted
                record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)

    @staticmethod
    def _redact_extras(record: logging.LogRecord) -> None:
        for name, value in list(record.__dict__.items()):
            if name in _STANDARD_RECORD_ATTRS or not isinstance(value, str | dict | list | tuple):
                continue
            redacted, hits = redact_obj(value)
            if hits:
                setattr(record, name, redacted)


def install_pan_filter(
    logger: logging.Logger,
    *,
    handler_allowed: Callable[[logging.Handler], bool] = lambda handler: True,
) -> PanRedactingFilter:
    """Attach one :class:`PanRedactingFilter` to ``logger`` and to each of its handlers
    for which ``handler_allowed`` is true (all of them unless told otherwise).

    The handler filters are what protect records propagated from child loggers: Python
    applies a logger's filters only to records created on that logger, while a
    handler's filters see every record the handler emits. Handlers added to the logger
    later are not covered; call this again after adding them. Calling it twice does
    not stack filters. ``handler_allowed`` lets a caller leave alone a handler it does
    not own (one shared with another application's loggers).
    """
    existing = next((f for f in logger.filters if isinstance(f, PanRedactingFilter)), None)
    pan_filter = existing or PanRedactingFilter()
    if existing is None:
        logger.addFilter(pan_filter)
    for handler in logger.handlers:
        if not handler_allowed(handler):
            continue
        if not any(isinstance(f, PanRedactingFilter) for f in handler.filters):
            handler.addFilter(pan_filter)
    return pan_filter
