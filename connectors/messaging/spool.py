"""A directory of write-once files, one per message id: the demo's mailbox and SMS outbox.

A message id always maps to the same file name, and a file is published with an atomic
``link``, so a second delivery of the same message (a dispatcher that died before marking
it sent) is recognised and not written again, even by two processes at once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["Spool"]


class Spool:
    """Files ``<sha256(message id)><suffix>`` in ``path`` (created on first write)."""

    def __init__(self, path: str | os.PathLike[str], suffix: str) -> None:
        self.path = Path(path)
        self.suffix = suffix

    def file_for(self, message_id: str) -> Path:
        stem = hashlib.sha256(message_id.encode("utf-8")).hexdigest()
        return self.path / f"{stem}{self.suffix}"

    def write_once(self, message_id: str, data: bytes) -> bool:
        """Store ``data`` for ``message_id``; False when that message is already there."""
        target = self.file_for(message_id)
        if target.exists():
            return False
        self.path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".incoming-", suffix=self.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                # link() fails if the name exists: of two concurrent writers, one wins.
                os.link(tmp, target)
            except FileExistsError:
                return False
            return True
        finally:
            os.unlink(tmp)

    def read(self, message_id: str) -> bytes | None:
        try:
            return self.file_for(message_id).read_bytes()
        except FileNotFoundError:
            return None

    def files(self) -> list[Path]:
        """Every stored message, newest first."""
        if not self.path.is_dir():
            return []
        found = [p for p in self.path.glob(f"*{self.suffix}") if not p.name.startswith(".")]
        return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
