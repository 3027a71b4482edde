"""Everything the sandbox remembers, behind one lock, optionally persisted to a JSON file.

Only PSP-side facts are kept: transactions, disputes, unused nonces and vaulted tokens
(each with BIN, last 4, brand and expiry at most), what describes each uploaded evidence
document (name, type, size; never its content) and the first answer given to each
``api_request_key``. Card numbers and CVVs never reach this object.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import string
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("crm_pay.sandbox")

_ID_ALPHABET = string.ascii_lowercase + string.digits
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def new_id(length: int = 8) -> str:
    """A Braintree-looking identifier: lowercase letters and digits."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def now_timestamp() -> str:
    """The current UTC time, to the second, as the gateway renders it."""
    return datetime.now(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(value: str) -> datetime:
    """Read ``2026-01-31T12:00:00Z`` (the SDK's search format too) as an aware UTC time."""
    return datetime.strptime(value.strip(), TIMESTAMP_FORMAT).replace(tzinfo=UTC)


class SandboxState:
    """The sandbox's memory. Callers hold :attr:`lock` around read-modify-write sequences."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.lock = threading.RLock()
        self.path = Path(path) if path is not None else None
        self.transactions: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.nonces: dict[str, dict[str, str]] = {}
        self.consumed_nonces: set[str] = set()
        self.vault: dict[str, dict[str, str]] = {}
        self.idempotent_responses: dict[str, dict[str, Any]] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        if self.path is not None and self.path.exists():
            self._load(self.path)

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self.transactions = data.get("transactions", {})
        self.disputes = data.get("disputes", {})
        self.nonces = data.get("nonces", {})
        self.consumed_nonces = set(data.get("consumed_nonces", []))
        self.vault = data.get("vault", {})
        self.idempotent_responses = data.get("idempotent_responses", {})
        self.documents = data.get("documents", {})
        log.info("development sandbox: loaded %d transactions", len(self.transactions))

    def save(self) -> None:
        """Write the state file atomically (no-op without ``state_path``)."""
        if self.path is None:
            return
        with self.lock:
            data = {
                "transactions": self.transactions,
                "disputes": self.disputes,
                "nonces": self.nonces,
                "consumed_nonces": sorted(self.consumed_nonces),
                "vault": self.vault,
                "idempotent_responses": self.idempotent_responses,
                "documents": self.documents,
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sandbox-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
            os.replace(tmp, self.path)

    def unique_id(self, taken: dict[str, Any]) -> str:
        while True:
            candidate = new_id()
            if candidate not in taken:
                return candidate
