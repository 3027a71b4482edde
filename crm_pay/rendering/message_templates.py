"""The Jinja side of customer messages: the shipped template files, an admin's edited
sources, and the checks an edited source must pass.

Every message part (``subject``, ``text``, ``html``, ``sms``) is rendered by a
:class:`~jinja2.sandbox.SandboxedEnvironment`, the shipped files as much as an admin's
edits, so a default copied into the editor behaves exactly as it did: a template reaches
the values it is given and nothing of Python behind them (no ``__class__``, no
``_private`` attribute, no unsafe call). The HTML part is autoescaped; the others are
plain text (the subject and the SMS are then folded onto one line by the caller).

The shipped files are written in each of the message languages
(``crm_pay.rendering.message_language``): ``email/es/pay_link.subject`` beside
``email/pay_link.subject``; a kind not yet translated into a language is sent with its
English file. An admin edits each language's words on their own (one version history
per kind and language, ``crm_pay.services.notification_templates``).

Pure: no database, no clock. An edited source is handed in (:class:`MessageTemplates`);
where it is stored is the business of ``crm_pay.services.notification_templates``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from jinja2 import (
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
    meta,
    nodes,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "PARTS",
    "PART_LABELS",
    "LAYOUT",
    "MessageTemplates",
    "TemplateFailure",
    "default_source",
    "shipped_name",
    "shipped_in",
    "render_part",
    "source_problems",
    "attributes_of",
]

PARTS = ("subject", "text", "html", "sms")
PART_LABELS = {"subject": "Subject", "text": "Text body", "html": "HTML body", "sms": "SMS"}
# The one template an edited HTML body may extend: the shipped frame (merchant header
# and footer). Nothing else may be included, imported or extended.
LAYOUT = "email/_layout.html"
# Edited templates are short; a paste of a whole web page is a mistake.
MAX_SOURCE_CHARS = 20_000
_FILES = {
    "subject": "email/{kind}.subject",
    "text": "email/{kind}.txt",
    "html": "email/{kind}.html",
    "sms": "sms/{kind}.txt",
}
_OPTIONS: dict[str, Any] = {
    "loader": PackageLoader("crm_pay.rendering", "templates"),
    "undefined": StrictUndefined,
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": True,
}
_HTML = SandboxedEnvironment(autoescape=True, **_OPTIONS)
_PLAIN = SandboxedEnvironment(autoescape=False, **_OPTIONS)


@dataclass(frozen=True, slots=True)
class MessageTemplates:
    """An admin's edited sources of one message kind; ``None``: the shipped file.
    ``version`` names the saved version (for the log line of a fallback)."""

    subject: str | None = None
    text: str | None = None
    html: str | None = None
    sms: str | None = None
    version: int = 0

    @classmethod
    def of(cls, parts: Mapping[str, str | None], version: int = 0) -> MessageTemplates:
        """From ``{part: source}``; a part not named is the shipped file."""
        return cls(
            subject=parts.get("subject"),
            text=parts.get("text"),
            html=parts.get("html"),
            sms=parts.get("sms"),
            version=version,
        )

    def source(self, part: str) -> str | None:
        return getattr(self, part)  # type: ignore[no-any-return]


class TemplateFailure(Exception):
    """An edited part could not be rendered (or left out what it must show). The
    message names the part and, when known, the line; it never holds a rendered value
    beyond what the template itself wrote."""

    def __init__(self, part: str, problem: str, line: int | None = None) -> None:
        where = f"{PART_LABELS[part]}, line {line}" if line else PART_LABELS[part]
        super().__init__(f"{where}: {problem}")
        self.part = part
        self.problem = problem
        self.line = line


def _env(part: str) -> SandboxedEnvironment:
    return _HTML if part == "html" else _PLAIN


@functools.lru_cache(maxsize=256)
def shipped_name(kind: str, part: str, language: str = "en") -> str:
    """The shipped file of ``kind``'s ``part`` in ``language``: its translation when
    there is one, else the English file."""
    english = _FILES[part].format(kind=kind)
    if language == "en":
        return english
    folder, _, name = english.partition("/")
    translated = f"{folder}/{language}/{name}"
    env = _env(part)
    assert env.loader is not None
    try:
        env.loader.get_source(env, translated)
    except TemplateNotFound:
        return english
    return translated


def shipped_in(kind: str, language: str) -> bool:
    """Whether crm-pay ships ``kind``'s words in ``language`` (English: always; the
    receipt, for one, is shipped in English only)."""
    return language == "en" or shipped_name(kind, "subject", language) != shipped_name(
        kind, "subject"
    )


def default_source(kind: str, part: str, language: str = "en") -> str:
    """The shipped file of ``kind``'s ``part`` in ``language``, as text (what "Reset to
    default" gives)."""
    env = _env(part)
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, shipped_name(kind, part, language))
    return source


@functools.lru_cache(maxsize=128)
def _compiled(part: str, source: str) -> Template:
    # Compiling costs far more than rendering; a worker renders the same few sources.
    return _env(part).from_string(source)


def _line_of(exc: BaseException) -> int | None:
    """The line of the edited template the error came from (Jinja rewrites the
    traceback so that a template's frames carry its own line numbers)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_part(
    kind: str, part: str, values: Mapping[str, Any], edited: str | None, language: str = "en"
) -> str:
    """Render ``kind``'s ``part`` from the edited source, else the shipped file in
    ``language``. An edited source that fails raises :class:`TemplateFailure`; a shipped
    one raises as Jinja does (a bug, caught by the tests)."""
    if edited is None:
        return _env(part).get_template(shipped_name(kind, part, language)).render(values)
    try:
        return _compiled(part, edited).render(values)
    except TemplateSyntaxError as exc:
        raise TemplateFailure(part, exc.message or "not a valid template", exc.lineno) from exc
    except Exception as exc:  # anything an admin's template can raise while rendering
        raise TemplateFailure(part, _plain_words(exc), _line_of(exc)) from exc


def _plain_words(exc: BaseException) -> str:
    text = (str(exc) or type(exc).__name__).rstrip(".") + "."
    return f"not allowed: {text}" if isinstance(exc, SecurityError) else text


def attributes_of(value: object) -> tuple[str, ...]:
    """The attributes a template may read of a message value: a dataclass's fields and
    public properties, in their order."""
    if not is_dataclass(value):
        return ()
    names = [f.name for f in fields(value)]
    names += [
        name
        for name, attr in vars(type(value)).items()
        if isinstance(attr, property) and not name.startswith("_")
    ]
    return tuple(names)


_UNKNOWN = object()


def source_problems(part: str, source: str, values: Mapping[str, Any]) -> list[str]:
    """What is wrong with an edited source before it is rendered: its size, its syntax,
    a construct it may not use, a variable the message does not have (``values``: the
    message's variables with a sample of each). Empty: it may be rendered."""
    label = PART_LABELS[part]
    if len(source) > MAX_SOURCE_CHARS:
        return [f"{label}: {len(source)} characters, at most {MAX_SOURCE_CHARS} are allowed."]
    if not source.strip():
        return [f"{label}: empty. Write the words, or use Reset to default."]
    env = _env(part)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return [f"{label}, line {exc.lineno}: {exc.message}."]
    problems = [f"{label}, line {line}: {what}" for line, what in _forbidden(part, tree)]
    allowed = set(values) | set(env.globals)
    for name in sorted(meta.find_undeclared_variables(tree) - allowed):
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), None)
        problems.append(
            f"{label}, line {line}: unknown variable “{name}”. This message has: "
            + ", ".join(sorted(values))
            + "."
        )
    for node in tree.find_all(nodes.Getattr):
        base = _sample_of(node.node, values)
        if base is _UNKNOWN or base is None or hasattr(base, node.attr):
            continue
        known = attributes_of(base)
        has = f" ({_dotted(node.node)} has: {', '.join(known)})" if known else ""
        problems.append(
            f"{label}, line {node.lineno}: “{_dotted(node)}” is not a variable of this "
            f"message{has}."
        )
    return problems


def _forbidden(part: str, tree: nodes.Template) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        target = getattr(node, "template", None)
        if (
            part == "html"
            and isinstance(node, nodes.Extends)
            and isinstance(target, nodes.Const)
            and target.value == LAYOUT
        ):
            continue
        found.append(
            (node.lineno, f'only {{% extends "{LAYOUT}" %}} (HTML body) may use another template.')
        )
    for used in tree.find_all(nodes.Filter):
        if used.name == "safe":
            found.append((used.lineno, "the “safe” filter is not allowed: every value is escaped."))
    for block in tree.find_all((nodes.EvalContextModifier, nodes.ScopedEvalContextModifier)):
        found.append((block.lineno, "{% autoescape %} is not allowed: every value is escaped."))
    return found


def _sample_of(node: nodes.Node, values: Mapping[str, Any]) -> Any:
    """The sample value an expression such as ``n.url`` names, or ``_UNKNOWN`` (a loop
    variable, a call, an index: checked when the template is rendered instead)."""
    if isinstance(node, nodes.Name):
        return values.get(node.name, _UNKNOWN)
    if isinstance(node, nodes.Getattr):
        base = _sample_of(node.node, values)
        if base is _UNKNOWN or base is None:
            return _UNKNOWN
        return getattr(base, node.attr, _UNKNOWN)
    return _UNKNOWN


def _dotted(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_dotted(node.node)}.{node.attr}"
    return "…"
