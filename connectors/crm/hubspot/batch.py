"""Batch upsert of payments into HubSpot, with per-record outcomes.

Internal to :mod:`connectors.crm.hubspot`. One call to
``POST /crm/v3/objects/{objectType}/batch/upsert`` takes up to 100 inputs, each identified
by our payment id through ``idProperty`` (a unique-value property), so a replay updates the
same record instead of creating another. HubSpot answers 200 when every record was written
and 207 (multi-status) with ``errors`` when some were refused; each input carries its
payment id as ``objectWriteTraceId`` so an error can be matched to its record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from crm_pay.ports import CrmAuthFailed, CrmCallFailed, CrmPaymentRecord, RecordResult

from . import records
from .config import HubSpotConfig
from .transport import HubSpotApi

__all__ = ["upsert_batch"]

# Categories of per-record errors that no retry can fix: the record itself must change.
_PERMANENT: Final = frozenset({"VALIDATION_ERROR", "INVALID_EMAIL", "PROPERTY_DOESNT_EXIST"})


def upsert_batch(
    api: HubSpotApi, config: HubSpotConfig, chunk: Sequence[CrmPaymentRecord]
) -> dict[str, RecordResult]:
    """Upsert ``chunk`` (distinct payment ids, at most 100); return results by payment id."""
    try:
        answer = _upsert(api, config, chunk)
    except CrmCallFailed as exc:
        if exc.retryable or isinstance(exc, CrmAuthFailed) or len(chunk) == 1:
            raise
        # The whole batch was refused (HTTP 400) without saying which record is at fault:
        # send each alone so only the bad one fails, with its own message.
        return _one_by_one(api, config, chunk)
    results, hs_ids = _read_answer(config, chunk, answer)
    if config.prop("payment_contact_association") and hs_ids:
        _associate(api, config, chunk, hs_ids, results)
    return results


def _upsert(api: HubSpotApi, config: HubSpotConfig, chunk: Sequence[CrmPaymentRecord]) -> Any:
    id_property = config.prop("payment_id_property")
    inputs = [
        {
            "idProperty": id_property,
            "id": record.payment_id,
            "objectWriteTraceId": record.payment_id,
            "properties": records.payment_properties(config, record),
        }
        for record in chunk
    ]
    return api.call(
        "POST",
        f"/crm/v3/objects/{config.prop('payment_object')}/batch/upsert",
        json={"inputs": inputs},
        allow_207=True,
    )


def _one_by_one(
    api: HubSpotApi, config: HubSpotConfig, chunk: Sequence[CrmPaymentRecord]
) -> dict[str, RecordResult]:
    results: dict[str, RecordResult] = {}
    for index, record in enumerate(chunk):
        try:
            results.update(upsert_batch(api, config, [record]))
        except CrmAuthFailed:
            raise
        except CrmCallFailed as exc:
            message = exc.crm_message or str(exc)
            if not exc.retryable:
                results[record.payment_id] = RecordResult(record.payment_id, False, message, False)
                continue
            # Rate limited or down half-way: the rest waits for the next attempt.
            for later in chunk[index:]:
                results[later.payment_id] = RecordResult(later.payment_id, False, message, True)
            break
    return results


def _read_answer(
    config: HubSpotConfig, chunk: Sequence[CrmPaymentRecord], answer: Any
) -> tuple[dict[str, RecordResult], dict[str, str]]:
    keys = {record.payment_id for record in chunk}
    id_property = config.prop("payment_id_property")
    hs_ids: dict[str, str] = {}
    for item in (answer or {}).get("results") or []:
        props: Mapping[str, Any] = item.get("properties") or {}
        key = item.get("objectWriteTraceId") or props.get(id_property)
        if key in keys and item.get("id") is not None:
            hs_ids[key] = str(item["id"])
    results = {key: RecordResult(key, True) for key in hs_ids}
    unmatched: list[tuple[str, bool]] = []
    for error in (answer or {}).get("errors") or []:
        message = str(error.get("message") or error.get("category") or "refused by HubSpot")
        permanent = error.get("category") in _PERMANENT
        matched = _error_keys(error) & (keys - results.keys())
        for key in matched:
            results[key] = RecordResult(key, False, message, retryable=not permanent)
        if not matched:
            unmatched.append((message, permanent))
    for key in keys - results.keys():
        if len(unmatched) == 1:
            message, permanent = unmatched[0]
            results[key] = RecordResult(key, False, message, retryable=not permanent)
        else:
            detail = "; ".join(m for m, _ in unmatched) or "HubSpot returned no result for it"
            results[key] = RecordResult(key, False, detail, retryable=True)
    return results, hs_ids


def _error_keys(error: Mapping[str, Any]) -> set[str]:
    """Our payment ids an error names: in ``context`` (lists of strings) or ``id``."""
    found: set[str] = set()
    context = error.get("context")
    if isinstance(context, Mapping):
        for name in ("objectWriteTraceId", "ids", "id", "idProperty"):
            values = context.get(name)
            if isinstance(values, list):
                found.update(str(v) for v in values)
    if isinstance(error.get("objectWriteTraceId"), str):
        found.add(error["objectWriteTraceId"])
    return found


def _associate(
    api: HubSpotApi,
    config: HubSpotConfig,
    chunk: Sequence[CrmPaymentRecord],
    hs_ids: Mapping[str, str],
    results: dict[str, RecordResult],
) -> None:
    """Associate each written payment with its contact (HubSpot's default association).

    Creating an association that exists is a no-op in HubSpot, so a replay is harmless.
    """
    pairs: list[tuple[CrmPaymentRecord, str]] = []
    for record in chunk:
        if record.payment_id not in hs_ids:
            continue
        if not record.customer_ref.isdigit():
            results[record.payment_id] = RecordResult(
                record.payment_id,
                False,
                f"customer {record.customer_ref!r} is not a HubSpot contact record ID",
                retryable=False,
            )
            continue
        pairs.append((record, hs_ids[record.payment_id]))
    if not pairs:
        return
    inputs = [{"from": {"id": hs_id}, "to": {"id": rec.customer_ref}} for rec, hs_id in pairs]
    answer = api.call(
        "POST",
        f"/crm/v4/associations/{config.prop('payment_object')}/contacts/batch/associate/default",
        json={"inputs": inputs},
        allow_207=True,
    )
    errors = (answer or {}).get("errors") or []
    if not errors:
        return
    linked = {str((item.get("from") or {}).get("id")) for item in answer.get("results") or []}
    message = "; ".join(str(e.get("message") or e.get("category")) for e in errors)
    permanent = all(e.get("category") in _PERMANENT for e in errors)
    for record, hs_id in pairs:
        if hs_id not in linked:
            results[record.payment_id] = RecordResult(
                record.payment_id, False, message, retryable=not permanent
            )
