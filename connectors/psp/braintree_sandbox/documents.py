"""The XML documents the gateway answers with, shaped like Braintree's.

Only the elements the SDK's ``Transaction``, ``Dispute`` and ``ErrorResult`` read are
rendered; the card appears as BIN, last 4, brand and expiry, never more. There is no
``masked-number`` element: the SDK derives ``masked_number`` from ``bin`` and ``last_4``
(its property has no setter, so sending the element would break parsing).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from .records import FieldError
from .state import SandboxState, parse_timestamp
from .xml_codec import Items, encode


def transaction_fields(transaction: dict[str, Any], state: SandboxState) -> dict[str, Any]:
    """The ``<transaction>`` content for one stored transaction."""
    card = transaction["credit_card"]
    disputes = [state.disputes[d] for d in transaction.get("dispute_ids", [])]
    return {
        "id": transaction["id"],
        "status": transaction["status"],
        "type": transaction["type"],
        "amount": transaction["amount"],
        "currency_iso_code": transaction["currency_iso_code"],
        "order_id": transaction["order_id"],
        "customer": {"id": transaction["customer_id"]},
        "merchant_account_id": transaction["merchant_account_id"],
        "created_at": parse_timestamp(transaction["created_at"]),
        "updated_at": parse_timestamp(transaction["updated_at"]),
        "processor_response_code": transaction["processor_response_code"],
        "processor_response_text": transaction["processor_response_text"],
        "processor_response_type": transaction["processor_response_type"],
        "additional_processor_response": transaction.get("additional_processor_response"),
        "processor_settlement_response_code": transaction.get("processor_settlement_response_code"),
        "processor_settlement_response_text": transaction.get("processor_settlement_response_text"),
        "gateway_rejection_reason": transaction["gateway_rejection_reason"],
        "payment_instrument_type": transaction.get("payment_instrument_type", "credit_card"),
        "credit_card": {
            "bin": card["bin"],
            "last_4": card["last_4"],
            "card_type": card["card_type"],
            "expiration_month": card["expiration_month"],
            "expiration_year": card["expiration_year"],
            "unique_number_identifier": card.get("unique_number_identifier"),
            "token": card.get("token"),
        },
        # A wallet's sale: its element (``paypal``, ``venmo_account``, ``apple_pay``,
        # ``android_pay_card``) as braintree_python transaction.py reads it (wallet_nonces).
        **transaction.get("wallet", {}),
        "cvv_response_code": transaction.get("cvv_response_code"),
        "avs_postal_code_response_code": transaction.get("avs_postal_code_response_code"),
        "avs_street_address_response_code": transaction.get("avs_street_address_response_code"),
        "avs_error_response_code": transaction.get("avs_error_response_code"),
        "refund_ids": Items("item", transaction["refund_ids"]),
        "refunded_transaction_id": transaction["refunded_transaction_id"],
        "settlement_batch_id": transaction.get("settlement_batch_id"),
        "status_history": Items(
            "status_event",
            [
                dict(event, timestamp=parse_timestamp(event["timestamp"]))
                for event in transaction["status_history"]
            ],
        ),
        "disputes": Items("dispute", [dispute_fields(d, state) for d in disputes]),
        # Only when the sale had it: the SDK builds RiskData from whatever is present.
        **({"risk_data": transaction["risk_data"]} if transaction.get("risk_data") else {}),
        # Only for a 3-D Secured sale: braintree_python transaction.py builds
        # ThreeDSecureInfo when the element is there and leaves None otherwise
        # (test_transaction.py::test_find_exposes_none_for_null_three_d_secure_info).
        **(
            {"three_d_secure_info": transaction["three_d_secure_info"]}
            if transaction.get("three_d_secure_info")
            else {}
        ),
    }


def dispute_fields(dispute: dict[str, Any], state: SandboxState) -> dict[str, Any]:
    """The ``<dispute>`` content, element for element as in the SDK's webhook samples
    (braintree_python ``webhook_testing_gateway.py``, ``__new_dispute_*_sample_xml``)."""
    transaction = state.transactions[dispute["transaction_id"]]
    fields: dict[str, Any] = {
        "id": dispute["id"],
        "amount": dispute["amount"],
        "amount_disputed": dispute["amount_disputed"],
        "amount_won": dispute["amount_won"],
        "case_number": dispute["case_number"],
        "created_at": parse_timestamp(dispute["created_at"]),
        "currency_iso_code": dispute["currency_iso_code"],
        "forwarded_comments": dispute.get("forwarded_comments"),
        "kind": dispute["kind"],
        "merchant_account_id": dispute["merchant_account_id"],
        "reason": dispute["reason"],
        "reason_code": dispute.get("reason_code"),
        "reason_description": dispute.get("reason_description"),
        "received_date": date.fromisoformat(dispute["received_date"]),
        "reference_number": dispute.get("reference_number"),
        "reply_by_date": date.fromisoformat(dispute["reply_by_date"]),
        "status": dispute["status"],
        "updated_at": parse_timestamp(dispute["updated_at"]),
        "original_dispute_id": dispute.get("original_dispute_id"),
        "status_history": Items(
            "status_history",
            [
                # effective_date: braintree_python tests/integration/test_dispute_search.py
                # reads status_history[0].effective_date and searches by it.
                {
                    "status": entry["status"],
                    "timestamp": parse_timestamp(entry["timestamp"]),
                    "effective_date": date.fromisoformat(
                        entry.get("effective_date") or entry["timestamp"][:10]
                    ),
                }
                for entry in dispute["status_history"]
            ],
        ),
        "evidence": Items("evidence", [evidence_fields(e) for e in dispute.get("evidence", [])]),
        "transaction": {
            "id": transaction["id"],
            "amount": transaction["amount"],
            "created_at": parse_timestamp(transaction["created_at"]),
            "order_id": transaction["order_id"],
            "purchase_order_number": None,
            "payment_instrument_subtype": transaction["credit_card"]["card_type"],
        },
        "date_opened": date.fromisoformat(dispute.get("date_opened") or dispute["received_date"]),
        "remaining_file_evidence_storage": int(dispute.get("remaining_file_evidence_storage", 0)),
    }
    if dispute.get("date_won"):
        fields["date_won"] = date.fromisoformat(dispute["date_won"])
    return fields


def evidence_fields(evidence: dict[str, Any]) -> dict[str, Any]:
    """One ``<evidence>``. The gateway's answer names the text ``comment``
    (test_disputes.py::test_add_text_evidence_adds_text_evidence reads ``evidence.comment``);
    the webhook samples name it ``comments``: both are written so either reader finds it."""
    return {
        "id": evidence["id"],
        "comment": evidence.get("comment"),
        "comments": evidence.get("comment"),
        "category": evidence.get("category"),
        "sequence_number": evidence.get("sequence_number"),
        "created_at": parse_timestamp(evidence["created_at"]),
        "sent_to_processor_at": None,
        "url": evidence.get("url"),
    }


def dispute_document(dispute: dict[str, Any], state: SandboxState) -> bytes:
    return encode("dispute", dispute_fields(dispute, state))


def evidence_document(evidence: dict[str, Any]) -> bytes:
    return encode("evidence", evidence_fields(evidence))


def document_upload_document(document: dict[str, Any]) -> bytes:
    """``<document-upload>`` as ``DocumentUpload`` reads it (test_document_upload.py:
    content_type, kind, name, size)."""
    return encode(
        "document_upload",
        {
            "id": document["id"],
            "kind": document["kind"],
            "content_type": document["content_type"],
            "name": document["name"],
            "size": int(document["size"]),
        },
    )


def transaction_document(transaction: dict[str, Any], state: SandboxState) -> bytes:
    return encode("transaction", transaction_fields(transaction, state))


def declined_document(transaction: dict[str, Any], state: SandboxState) -> bytes:
    """A processor decline or failure: an error result that still carries the transaction."""
    return encode(
        "api_error_response",
        {
            "errors": {"errors": Items("error", [])},
            "transaction": transaction_fields(transaction, state),
            "message": decline_message(transaction),
        },
    )


def decline_message(transaction: dict[str, Any]) -> str:
    """``ErrorResult.message`` of an unsuccessful transaction: the processor's text, or
    "Gateway Rejected: <reason>" (Braintree docs, Transaction: Sale > Gateway rejections)."""
    if transaction["status"] == "gateway_rejected":
        return f"Gateway Rejected: {transaction['gateway_rejection_reason']}"
    return str(transaction["processor_response_text"])


def validation_document(errors: tuple[FieldError, ...], params: dict[str, Any]) -> bytes:
    """Validation errors, nested by object path like Braintree's ``api-error-response``."""
    grouped: dict[tuple[str, ...], list[FieldError]] = defaultdict(list)
    for error in errors:
        grouped[error.path].append(error)
    tree: dict[str, Any] = {"errors": Items("error", [])}
    for path, path_errors in grouped.items():
        node = tree
        for part in path:
            node = node.setdefault(part, {"errors": Items("error", [])})
        node["errors"] = Items(
            "error",
            [{"code": e.code, "attribute": e.attribute, "message": e.message} for e in path_errors],
        )
    return encode(
        "api_error_response",
        {
            "errors": tree,
            "params": _safe_params(params),
            "message": " ".join(e.message for e in errors),
        },
    )


def _safe_params(params: dict[str, Any]) -> dict[str, Any]:
    """Echo only harmless request parameters (Braintree echoes params; we echo few)."""
    transaction = params.get("transaction")
    if not isinstance(transaction, dict):
        return {}
    keys = ("amount", "order_id", "type", "merchant_account_id")
    return {"transaction": {k: str(transaction[k]) for k in keys if k in transaction}}


def search_ids_document(ids: list[str], page_size: int) -> bytes:
    return encode("search_results", {"page_size": page_size, "ids": Items("item", ids)})


def search_document(transactions: list[dict[str, Any]], state: SandboxState) -> bytes:
    return encode(
        "credit_card_transactions",
        Items("transaction", [transaction_fields(t, state) for t in transactions], typed=False),
    )
