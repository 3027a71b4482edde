"""The checks an admin's edited message templates pass before they are saved, and the
preview with sample data.

A problem is said in words that name the part and line: a syntax error, a variable the
message kind does not have, a construct not allowed (another template, ``safe``,
``autoescape``), a card-number-like run of digits (``vault.pan``), and then, rendered
with every sample of the kind (``crm_pay.rendering.email_samples``: a refund receipt
as well as a payment's, a failure with and without a link to try again...), an error
or something the message must show left out (the pay link, the link to stop reminders,
the receipt number).
"""

from __future__ import annotations

from collections.abc import Mapping

from crm_pay.domain.errors import NotFound, ValidationError
from crm_pay.rendering.email import Notice, message_values, part_values
from crm_pay.rendering.email_samples import (
    MESSAGE_KINDS,
    SampleMessage,
    channels_of,
    render_sample,
    sample_notices,
)
from crm_pay.rendering.message_language import (
    ENGLISH,
    MESSAGE_LANGUAGES,
    MessageLocale,
    message_language,
)
from crm_pay.rendering.message_templates import (
    PART_LABELS,
    MessageTemplates,
    TemplateFailure,
    default_source,
    source_problems,
)
from vault import pan

from .context import Context

__all__ = [
    "parts_of",
    "known_kind",
    "known_language",
    "message_locale",
    "samples_for",
    "complete_sources",
    "check_templates",
    "preview_templates",
]


def parts_of(kind: str) -> tuple[str, ...]:
    """The parts an admin edits for ``kind``: the email's, and the SMS if it has one."""
    known_kind(kind)
    return ("subject", "text", "html") + (("sms",) if "sms" in channels_of(kind) else ())


def known_kind(kind: str) -> None:
    """Raise ``NotFound`` unless ``kind`` is a message kind."""
    if kind not in MESSAGE_KINDS:
        raise NotFound(f"no message kind {kind!r}")


def known_language(language: str) -> None:
    """Raise ``ValidationError`` unless messages are written in ``language``."""
    if language not in MESSAGE_LANGUAGES:
        raise ValidationError(
            f"Messages are not written in {language!r}: choose one of "
            + ", ".join(MESSAGE_LANGUAGES)
            + "."
        )


def message_locale(ctx: Context, language: str | None) -> MessageLocale:
    """How a message to a customer whose CRM record names ``language`` writes: in that
    language when messages are written in it, else the merchant's default language.
    Its times are told in the merchant's time zone, but English keeps crm-pay's own
    form, each time in the zone it was kept in (as the English messages always did)."""
    chosen = message_language(language, ctx.settings.default_language)
    return MessageLocale(chosen, None if chosen == ENGLISH else ctx.settings.time_zone)


def samples_for(ctx: Context, kind: str) -> list[Notice]:
    """``kind``'s sample messages with the merchant's own details and currency."""
    base = ctx.settings.public_url.rstrip("/") + ctx.settings.url_prefix
    return sample_notices(
        kind,
        merchant=ctx.settings.merchant,
        currency=ctx.settings.default_currency,
        base_url=base,
    )


def complete_sources(
    kind: str, submitted: Mapping[str, str | None], language: str = ENGLISH
) -> dict[str, str]:
    """Every part of ``kind``: what was submitted (line ends as Unix), else the shipped
    words of ``language``."""
    out = {}
    for part in parts_of(kind):
        value = submitted.get(part)
        out[part] = (
            value.replace("\r\n", "\n").replace("\r", "\n")
            if value is not None
            else default_source(kind, part, language)
        )
    return out


def _pan_problems(label: str, text: str, *, rendered: bool) -> list[str]:
    problems = []
    for match in pan.find_pans(text):
        where = "" if rendered else f", line {text.count(chr(10), 0, match.start) + 1}"
        problems.append(
            f"{label}{where}: {'the message would show' if rendered else 'this is'} a "
            f"card-number-like run of {match.digit_count} digits. Card numbers never go "
            "into a customer message; remove it."
        )
    return problems


def check_templates(
    ctx: Context, kind: str, submitted: Mapping[str, str | None], language: str = ENGLISH
) -> list[str]:
    """What is wrong with ``submitted`` (part: words) as ``kind``'s templates in
    ``language`` (rendered as that language writes amounts and times), each
    problem in words that name the part and line: a syntax error, a variable the kind
    does not have, a construct not allowed, a card-number-like digit run, or, each part
    rendered with every sample, an error or something its message must show left out.
    Empty: they may be saved."""
    known_language(language)
    locale = message_locale(ctx, language)
    sources = complete_sources(kind, submitted, language)
    notices = samples_for(ctx, kind)
    values = message_values(kind, notices[0], locale)
    problems: list[str] = []
    for part, source in sources.items():
        found = _pan_problems(PART_LABELS[part], source, rendered=False)
        found += source_problems(part, source, part_values(part, values, "a subject"))
        if not found:  # rendered alone, so each part's problem is told, and told once
            edited = MessageTemplates.of({part: source})
            found = _render_problems(kind, part, edited, notices, locale)
        problems += found
    return problems


def _render_problems(
    kind: str,
    part: str,
    templates: MessageTemplates,
    notices: list[Notice],
    locale: MessageLocale,
) -> list[str]:
    channel = "sms" if part == "sms" else "email"
    problems: list[str] = []
    for notice in notices:
        try:
            sample = render_sample(kind, channel, notice, templates, locale=locale)
        except TemplateFailure as exc:
            problems.append(str(exc))
            continue
        problems += _pan_problems(PART_LABELS[part], _part_of(sample, part), rendered=True)
    return list(dict.fromkeys(problems))  # the same problem in several samples: once


def _part_of(sample: SampleMessage, part: str) -> str:
    return {"subject": sample.subject, "html": sample.html}.get(part, sample.text)


def preview_templates(
    ctx: Context, kind: str, submitted: Mapping[str, str | None], language: str = ENGLISH
) -> tuple[list[SampleMessage], list[str]]:
    """``submitted`` rendered with the sample data in ``language`` (each channel that
    renders, even without what it must show), and the problems :func:`check_templates`
    finds. Saves nothing."""
    problems = check_templates(ctx, kind, submitted, language)
    templates = MessageTemplates.of(complete_sources(kind, submitted, language))
    locale = message_locale(ctx, language)
    notice = samples_for(ctx, kind)[0]
    samples = []
    for channel in channels_of(kind):
        try:
            sample = render_sample(
                kind, channel, notice, templates, check_required=False, locale=locale
            )
            samples.append(sample)
        except TemplateFailure:
            continue  # its problem is in the list
    return samples, problems
