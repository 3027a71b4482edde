"""Customer-message templates an admin edits in the console: the words in force for
each message kind, a new version saved (after its checks), "Reset to default", and the
history of who changed what.

A version holds the edited parts of one kind (subject, text, HTML, SMS); a part the
admin left as shipped is stored as ``NULL`` and keeps following the release's file.
Versions are append-only; the newest of a kind is in force, so the history is the
table itself and every save is also an audit entry (``notification_template.saved`` /
``.reset``, with the parts changed and each part's SHA-256).

Each language's words are edited on their own (``language``: ``en``, ``es``, ``fr``,
``de``): the newest version of a kind *and language* is in force for a customer of that
language; a language nobody edited gets that language's shipped words. Versions are
numbered per kind across its languages, so ``base_version`` guards every save of a kind.

Delivery reads the words in force through :func:`templates_in_force`, in the
transaction it already has open, from a cache kept per database in each process. The
cache is stamped with the ``sequences`` row ``notification_templates``, which every save
moves in its transaction: a process looks at the stamp at most every
``RECHECK_SECONDS`` (one primary-key read; the templates are read again only when it
moved), so messages add no query of their own and another process's save is in force
there within ``RECHECK_SECONDS``. The saving process sees its own save at once.
"""

from __future__ import annotations

import difflib
import hashlib
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import Conflict, ValidationError
from crm_pay.persistence.db import Database, as_utc
from crm_pay.persistence.models import NotificationTemplateVersion as Version
from crm_pay.persistence.models import Sequence
from crm_pay.rendering.email import message_values, required_elements
from crm_pay.rendering.email_samples import COMMON_VARIABLES, MESSAGE_KINDS, VARIABLES, channels_of
from crm_pay.rendering.message_language import ENGLISH
from crm_pay.rendering.message_templates import (
    PART_LABELS,
    MessageTemplates,
    attributes_of,
    default_source,
    shipped_in,
)

from . import audit
from .context import Context
from .sequences import lock_sequence
from .template_checks import (
    check_templates,
    complete_sources,
    known_kind,
    known_language,
    message_locale,
    parts_of,
    samples_for,
)

__all__ = [
    "TemplatesRejected",
    "RECHECK_SECONDS",
    "template_list",
    "template_editor",
    "save_templates",
    "reset_templates",
    "template_history",
    "templates_in_force",
]

STAMP = "notification_templates"
RECHECK_SECONDS = 2.0


class TemplatesRejected(ValidationError):
    """Edited templates that may not be saved; ``problems`` names each, with its part
    and line."""

    code = "template_rejected"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("The templates were not saved: " + " ".join(problems))
        self.problems = tuple(problems)


# ------------------------------------------------------------------ reading the store
def _latest_rows(
    session: Session, kind: str | None = None, language: str | None = None
) -> list[Version]:
    """The newest version of each kind and language (of ``kind``, of ``language``)."""
    newest = select(
        Version.kind, Version.language, func.max(Version.version).label("version")
    ).group_by(Version.kind, Version.language)
    if kind is not None:
        newest = newest.where(Version.kind == kind)
    if language is not None:
        newest = newest.where(Version.language == language)
    sub = newest.subquery()
    query = select(Version).join(
        sub,
        (Version.kind == sub.c.kind)
        & (Version.language == sub.c.language)
        & (Version.version == sub.c.version),
    )
    return list(session.scalars(query))


def _newest_of_kind(session: Session, kind: str) -> Version | None:
    """The newest version of ``kind`` in any language: what ``base_version`` is."""
    return session.scalars(
        select(Version).where(Version.kind == kind).order_by(Version.version.desc()).limit(1)
    ).first()


def _edited(row: Version | None) -> bool:
    return row is not None and any(getattr(row, p) is not None for p in parts_of(row.kind))


def _effective(
    kind: str,
    stored: Version | Mapping[str, str | None] | None,
    part: str,
    language: str = ENGLISH,
) -> str:
    """The words of ``part`` as they go out: the stored edit, else the shipped file of
    ``language``."""
    value = (
        None
        if stored is None
        else stored.get(part)
        if isinstance(stored, Mapping)
        else getattr(stored, part)
    )
    return value if value is not None else default_source(kind, part, language)


@dataclass
class _Cache:
    stamp: int = -1
    checked: float = float("-inf")
    in_force: dict[tuple[str, str], MessageTemplates] = field(default_factory=dict)


_caches: weakref.WeakKeyDictionary[Database, _Cache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache_of(db: Database) -> _Cache:
    with _caches_lock:
        cache = _caches.get(db)
        if cache is None:
            cache = _caches[db] = _Cache()
        return cache


def templates_in_force(
    session: Session, ctx: Context, kind: str, language: str = ENGLISH
) -> MessageTemplates | None:
    """The admin's edited templates of ``kind`` in ``language`` in force now, ``None``:
    that language's shipped files. Read in the caller's transaction, from this process's
    cache (see above)."""
    cache = _cache_of(ctx.db)
    now = time.monotonic()
    if now - cache.checked >= RECHECK_SECONDS:
        stamp = session.scalar(select(Sequence.value).where(Sequence.name == STAMP)) or 0
        if stamp != cache.stamp:
            # The stamp first: a save committed in between only makes the next look
            # read the templates once more.
            cache.in_force = {
                (row.kind, row.language): MessageTemplates(
                    row.subject, row.text, row.html, row.sms, row.version
                )
                for row in _latest_rows(session)
                if _edited(row)
            }
            cache.stamp = int(stamp)
        cache.checked = now
    return cache.in_force.get((kind, language))


def _forget(ctx: Context) -> None:
    """This process's next message reads the stamp again (after our own save)."""
    _cache_of(ctx.db).checked = float("-inf")


# ------------------------------------------------------------------ views for the page
def _version_view(row: Version | None) -> dict[str, Any]:
    if row is None or not _edited(row):
        return {"edited": False, "version": row.version if row else 0}
    saved_at = as_utc(row.saved_at)
    return {
        "edited": True,
        "version": row.version,
        "saved_by": row.saved_by,
        "saved_at": f"{saved_at:%Y-%m-%d %H:%M} UTC" if saved_at else "",
    }


def template_list(ctx: Context) -> list[dict[str, Any]]:
    """Every message kind: what it is, when it is sent, its channels, whether its
    English words are edited (which version, by whom, when) and in which languages its
    words are edited."""
    with ctx.db.transaction() as s:
        latest = {(row.kind, row.language): row for row in _latest_rows(s)}
    return [
        {
            "kind": kind,
            "title": title,
            "when": when,
            "channels": channels_of(kind),
            **_version_view(latest.get((kind, ENGLISH))),
            "edited_languages": sorted(
                lang for (k, lang), row in latest.items() if k == kind and _edited(row)
            ),
        }
        for kind, (title, when, _) in MESSAGE_KINDS.items()
    ]


def template_editor(ctx: Context, kind: str, language: str = ENGLISH) -> dict[str, Any]:
    """What the editor shows for ``language``: each part's words in force (edited or
    shipped), the version they are (``base_version``: the kind's newest in any
    language, what a save starts from), the variables the kind has and what its bodies
    must show."""
    known_kind(kind)
    known_language(language)
    with ctx.db.transaction() as s:
        rows = _latest_rows(s, kind, language)
        newest = _newest_of_kind(s, kind)
    row = rows[0] if rows else None
    values = message_values(kind, samples_for(ctx, kind)[0], message_locale(ctx, language))
    words = {**VARIABLES[kind], **COMMON_VARIABLES}
    title, when, _ = MESSAGE_KINDS[kind]
    return {
        "kind": kind,
        "title": title,
        "when": when,
        "language": language,
        # False: crm-pay ships no words of this kind in ``language`` (the receipt): until
        # an admin saves some, its customers get the English message
        "shipped_in_language": shipped_in(kind, language),
        **_version_view(row),
        "base_version": newest.version if newest is not None else 0,
        "parts": [
            {
                "part": part,
                "label": PART_LABELS[part],
                "source": _effective(kind, row, part, language),
                "edited": row is not None and getattr(row, part) is not None,
            }
            for part in parts_of(kind)
        ],
        "variables": [
            {
                "name": name,
                "description": words[name],
                "attributes": attributes_of(values.get(name)),
            }
            for name in [*VARIABLES[kind], *COMMON_VARIABLES]
        ],
        "required": list(required_elements(kind, values)),
    }


# ------------------------------------------------------------------ saving
def _digest(kind: str, stored: Mapping[str, str | None]) -> dict[str, str]:
    """Each part's SHA-256 (``shipped``: the file), so the audit chain vouches for what
    the versions table says was saved."""
    return {
        f"{part}_sha256": "shipped"
        if stored.get(part) is None
        else hashlib.sha256(str(stored[part]).encode()).hexdigest()
        for part in parts_of(kind)
    }


def _store(
    ctx: Context,
    kind: str,
    stored: dict[str, str | None],
    *,
    actor: str,
    action: str,
    base_version: int | None,
    language: str,
) -> dict[str, Any]:
    with ctx.db.transaction() as s:
        stamp = lock_sequence(s, STAMP)  # one save at a time, everywhere
        rows = _latest_rows(s, kind, language)
        current = rows[0] if rows else None
        newest = _newest_of_kind(s, kind)
        version = newest.version if newest is not None else 0
        if base_version is not None and base_version != version:
            by = f", by {newest.saved_by}" if newest is not None else ""
            raise Conflict(
                f"These templates were saved again (version {version}{by}) since you opened "
                "them. Your words are still in the form: look at the history, then save again."
            )
        changed = [
            part
            for part in parts_of(kind)
            if _effective(kind, stored, part, language) != _effective(kind, current, part, language)
            or (stored[part] is None) != (current is None or getattr(current, part) is None)
        ]
        if not changed:
            return {"version": version, "changed": []}
        s.add(
            Version(
                kind=kind,
                language=language,
                version=version + 1,
                action=action,
                saved_by=actor,
                saved_at=ctx.now(),
                **stored,
            )
        )
        stamp.value += 1
        audit.record(
            s,
            ctx,
            actor=actor,
            action=f"notification_template.{action}",
            subject=f"notification_template:{kind}",
            data={
                "version": version + 1,
                "language": language,
                "changed": ", ".join(changed),
                **_digest(kind, stored),
            },
        )
    _forget(ctx)
    return {"version": version + 1, "changed": changed}


def save_templates(
    ctx: Context,
    kind: str,
    submitted: Mapping[str, str | None],
    *,
    actor: str,
    base_version: int | None = None,
    language: str = ENGLISH,
) -> dict[str, Any]:
    """Save ``submitted`` as a new version of ``kind``'s templates in ``language``,
    after :func:`check_templates` (``TemplatesRejected`` names every problem; nothing is
    saved). A part equal to the language's shipped file is stored as "shipped".
    ``base_version``: the kind's version the admin started from; another save of the
    kind since then (in any language) is a ``Conflict``. Returns the version in force
    and the parts changed (none: nothing was saved)."""
    known_language(language)
    sources = complete_sources(kind, submitted, language)
    problems = check_templates(ctx, kind, sources, language)
    if problems:
        raise TemplatesRejected(problems)
    stored: dict[str, str | None] = {
        part: None if source.rstrip() == default_source(kind, part, language).rstrip() else source
        for part, source in sources.items()
    }
    return _store(
        ctx,
        kind,
        stored,
        actor=actor,
        action="saved",
        base_version=base_version,
        language=language,
    )


def reset_templates(
    ctx: Context, kind: str, *, actor: str, language: str = ENGLISH
) -> dict[str, Any]:
    """Go back to the shipped words of ``language`` for every part of ``kind`` (a new
    version, audited; nothing happens when they are in force already)."""
    known_language(language)
    stored: dict[str, str | None] = dict.fromkeys(parts_of(kind))
    return _store(
        ctx, kind, stored, actor=actor, action="reset", base_version=None, language=language
    )


def _part_diff(before: str, after: str) -> list[tuple[str, str]]:
    """A unified diff of two sources as (what, line): ``hunk``, ``del``, ``add`` or
    ``same``, one line of context, without the file headers."""
    out = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=1):
        if line.startswith(("---", "+++")):
            continue
        what = {"@": "hunk", "-": "del", "+": "add"}.get(line[:1], "same")
        out.append((what, line[1:] if what != "hunk" else line))
    return out


def template_history(
    ctx: Context, kind: str, *, language: str = ENGLISH, limit: int = 20
) -> list[dict[str, Any]]:
    """``kind``'s saved versions in ``language``, newest first: who, when, saved or
    reset, and per part changed the difference from the version before (the first:
    from the shipped words)."""
    known_kind(kind)
    known_language(language)
    with ctx.db.transaction() as s:
        rows = list(
            s.scalars(
                select(Version)
                .where(Version.kind == kind, Version.language == language)
                .order_by(Version.version.desc())
                .limit(limit + 1)  # one more: the oldest shown is compared with its predecessor
            )
        )
    history = []
    for i, row in enumerate(rows[:limit]):
        before = rows[i + 1] if i + 1 < len(rows) else None
        saved_at = as_utc(row.saved_at)
        changes = []
        for part in parts_of(kind):
            old = _effective(kind, before, part, language)
            new = _effective(kind, row, part, language)
            if old != new:
                changes.append({"part": PART_LABELS[part], "diff": _part_diff(old, new)})
        history.append(
            {
                "version": row.version,
                "action": row.action,
                "saved_by": row.saved_by,
                "saved_at": f"{saved_at:%Y-%m-%d %H:%M} UTC" if saved_at else "",
                "changes": changes,
            }
        )
    return history
