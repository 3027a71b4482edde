"""Transaction search as the SDK sends it (``<search>`` criteria from ``TransactionSearch``).

Criterion names are those of braintree_python ``braintree/transaction_search.py``.
Supported: ``ids``, text fields (``order_id``, ``customer_id``, ``id``) with ``is``,
``is_not``, ``starts_with``, ``ends_with``, ``contains``; ranges (``min``/``max``/``is``)
on ``created_at``, ``amount`` and the status-change times ``authorized_at``,
``submitted_for_settlement_at``, ``settled_at``, ``voided_at``, ``processor_declined_at``,
``failed_at`` and ``gateway_rejected_at`` (the time the transaction first entered that
status, read from its ``status_history``; the SDK has no ``settlement_declined_at``);
lists on ``status``, ``type`` and ``merchant_account_id``. Anything else is refused
rather than silently ignored. Paging is the SDK's: ``advanced_search_ids`` answers every
id with a page size of 50, then ``advanced_search`` is asked for each page by ``ids``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from .records import UnsupportedSearch
from .state import parse_timestamp

__all__ = ["matching_ids", "text_matches"]

_TEXT_FIELDS = {"order_id", "customer_id", "id"}
_STATUS_TIMES = {
    "authorized_at": "authorized",
    "submitted_for_settlement_at": "submitted_for_settlement",
    "settled_at": "settled",
    "voided_at": "voided",
    "processor_declined_at": "processor_declined",
    "failed_at": "failed",
    "gateway_rejected_at": "gateway_rejected",
}
_RANGE_FIELDS = {"created_at", "amount", *_STATUS_TIMES}
_LIST_FIELDS = {
    "ids": "id",
    "status": "status",
    "type": "type",
    "merchant_account_id": "merchant_account_id",
}


def matching_ids(transactions: Mapping[str, dict[str, Any]], criteria: dict[str, Any]) -> list[str]:
    """Ids of the transactions that satisfy every criterion, oldest first (with an
    ``ids`` criterion, in the order asked for)."""
    for name in criteria:
        if name not in _TEXT_FIELDS | _RANGE_FIELDS | set(_LIST_FIELDS):
            raise UnsupportedSearch(
                f"search criterion {name!r} is not supported by the development sandbox"
            )
    candidates: Iterable[dict[str, Any]] = transactions.values()
    if "ids" in criteria:
        # The SDK fetches each page of a search by the page's ids: look those up instead
        # of scanning every stored transaction per page.
        wanted = criteria["ids"] if isinstance(criteria["ids"], list) else [criteria["ids"]]
        candidates = [transactions[i] for i in dict.fromkeys(wanted) if i in transactions]
    return [t["id"] for t in candidates if all(_matches(t, n, c) for n, c in criteria.items())]


def _matches(transaction: dict[str, Any], name: str, condition: Any) -> bool:
    if name in _LIST_FIELDS:
        values = condition if isinstance(condition, list) else [condition]
        return transaction.get(_LIST_FIELDS[name]) in values
    if name in _TEXT_FIELDS:
        return text_matches(transaction.get(name) or "", condition)
    return _range_matches(_range_value(transaction, name), name, condition)


def _range_value(transaction: dict[str, Any], name: str) -> str | None:
    status = _STATUS_TIMES.get(name)
    if status is None:
        value = transaction.get(name)
        return None if value is None else str(value)
    for event in transaction["status_history"]:
        if event["status"] == status:
            return str(event["timestamp"])
    return None


def text_matches(value: str, condition: Any) -> bool:
    """``Search.TextNodeBuilder`` operators (braintree_python search.py): ``is``,
    ``is_not``, ``starts_with``, ``ends_with``, ``contains``; a bare value means ``is``."""
    wanted = condition if isinstance(condition, dict) else {"is": condition}
    checks: dict[str, Callable[[str], bool]] = {
        "is": lambda w: value == w,
        "is_not": lambda w: value != w,
        "starts_with": value.startswith,
        "ends_with": value.endswith,
        "contains": lambda w: w in value,
    }
    for operator, operand in wanted.items():
        if operator not in checks:
            raise UnsupportedSearch(f"text operator {operator!r} is not supported")
        if not checks[operator](str(operand or "")):
            return False
    return True


def _range_matches(value: str | None, name: str, condition: Any) -> bool:
    if value is None:
        return False
    if not isinstance(condition, dict):
        condition = {"is": condition}
    actual = _comparable(name, value)
    for operator, bound in condition.items():
        limit = _comparable(name, bound)
        if operator == "min" and actual < limit:
            return False
        if operator == "max" and actual > limit:
            return False
        if operator == "is" and actual != limit:
            return False
        if operator not in ("min", "max", "is"):
            raise UnsupportedSearch(f"range operator {operator!r} is not supported")
    return True


def _comparable(name: str, value: str) -> Any:
    if name == "amount":
        return Decimal(value)
    moment: datetime = parse_timestamp(value)
    return moment
