"""Shared pieces of the simulated gateway: its errors and the status history of a record.

Every refusal is a :class:`ValidationFailure` holding Braintree's own error codes
(``braintree/error_codes.py`` in braintree_python); ``gateway_app`` renders it as an
``api-error-response`` nested by object path, which the SDK's ``ErrorResult`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .state import SandboxState, now_timestamp

__all__ = [
    "FieldError",
    "TransactionNotFound",
    "UnsupportedSearch",
    "ValidationFailure",
    "fail",
    "find_transaction",
    "move",
]


@dataclass(frozen=True)
class FieldError:
    """One ``<error>`` of an ``api-error-response``, nested under ``path``."""

    code: str
    attribute: str
    message: str
    path: tuple[str, ...] = ("transaction",)


class ValidationFailure(Exception):
    """Braintree answers with an ``api-error-response`` (HTTP 422)."""

    def __init__(self, *errors: FieldError) -> None:
        super().__init__(" ".join(error.message for error in errors))
        self.errors = errors


class TransactionNotFound(LookupError):
    """No such transaction, dispute or document (HTTP 404, the SDK raises NotFoundError)."""


class UnsupportedSearch(ValueError):
    """The search uses a criterion the development sandbox does not implement."""


def fail(
    code: str, attribute: str, message: str, path: tuple[str, ...] = ("transaction",)
) -> ValidationFailure:
    return ValidationFailure(FieldError(code, attribute, message, path))


def find_transaction(state: SandboxState, transaction_id: str) -> dict[str, Any]:
    transaction = state.transactions.get(transaction_id)
    if transaction is None:
        raise TransactionNotFound(transaction_id)
    return transaction


def move(transaction: dict[str, Any], status: str) -> None:
    """Change status and append to ``status_history``, which search's ``*_at`` criteria read."""
    stamp = now_timestamp()
    transaction["status"] = status
    transaction["updated_at"] = stamp
    transaction["status_history"].append(
        {
            "amount": transaction["amount"],
            "status": status,
            "timestamp": stamp,
            "transaction_source": transaction.get("transaction_source") or "api",
            "user": "sandbox",
        }
    )
