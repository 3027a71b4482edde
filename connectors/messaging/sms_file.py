"""``FileSmsOutbox``: the demo's SMS sender, one JSON file per message, idempotent by
message id (a redelivery is recognised and not written again)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from crm_pay.ports import OutgoingSms

from .spool import Spool

__all__ = ["FileSmsOutbox"]

log = logging.getLogger("crm_pay.messaging.sms")


class FileSmsOutbox:
    """An :class:`~crm_pay.ports.SmsSender` that writes ``.json`` files into ``path``."""

    name = "file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._spool = Spool(path, ".json")
        self._clock = clock or (lambda: datetime.now(UTC))
        self.duplicates = 0

    @property
    def path(self) -> str:
        return str(self._spool.path)

    def send(self, sms: OutgoingSms) -> None:
        record = {
            "message_id": sms.message_id,
            "to": sms.to,
            "body": sms.body,
            "written_at": self._clock().isoformat(),
        }
        data = json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8")
        if self._spool.write_once(sms.message_id, data):
            log.info("sms outbox: stored %s", sms.message_id)
        else:
            self.duplicates += 1
            log.info("sms outbox: %s is already here; duplicate not written", sms.message_id)

    def list_messages(self) -> list[dict[str, Any]]:
        """Every stored SMS (``message_id``, ``to``, ``body``, ``written_at``), newest first."""
        out = []
        for file in self._spool.files():
            try:
                out.append(json.loads(file.read_text("utf-8")))
            except (OSError, ValueError):
                log.warning("sms outbox: cannot read %s; skipped", file.name)
        return out

    def read(self, message_id: str) -> dict[str, Any] | None:
        raw = self._spool.read(message_id)
        return None if raw is None else dict(json.loads(raw))
