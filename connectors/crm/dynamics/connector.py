"""The Dynamics 365 / Dataverse CRM connector: :class:`DynamicsCrm`."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import requests

from connectors.crm.builtin import normalize_phone
from connectors.outbound import STRICT, OutboundPolicy, guard
from crm_pay.domain.errors import ValidationError
from crm_pay.domain.money import Money
from crm_pay.ports import (
    ConnectionReport,
    CrmCallFailed,
    CrmCustomer,
    CrmInvoice,
    CrmPaymentRecord,
    RecordResult,
    StoredCard,
)

from .auth import TokenSource
from .batch import BatchRequest, build_batch, parse_batch
from .checks import run_checks
from .config import DEFAULT_MAPPING, SECRET_FIELDS, SETTINGS_FIELDS, parse_config
from .web_api import (
    DataverseApi,
    encode_json,
    failure,
    is_guid,
    odata_error,
    odata_key,
    odata_string,
    refuse_card_numbers,
)

__all__ = ["DynamicsCrm"]

_MAX_MATCHES: Final = 50  # customers returned by one phone or e-mail search
_SUBJECT_MAX: Final = 500  # annotation.subject
_KEY_MAX: Final = 200

_PAYMENT_FIELDS: Final[tuple[tuple[str, Callable[[CrmPaymentRecord], Any]], ...]] = (
    ("payment_amount_column", lambda r: Decimal(r.amount.to_decimal_str())),
    ("payment_currency_column", lambda r: r.amount.currency),
    ("payment_status_column", lambda r: r.status),
    ("payment_channel_column", lambda r: r.channel),
    ("payment_card_brand_column", lambda r: r.card_brand),
    ("payment_card_last4_column", lambda r: r.card_last4),
    ("payment_psp_reference_column", lambda r: r.psp_reference),
    ("payment_receipt_number_column", lambda r: r.receipt_number),
    ("payment_created_at_column", lambda r: _utc_text(r.created_at)),
    ("payment_updated_at_column", lambda r: _utc_text(r.updated_at)),
)


class DynamicsCrm:
    """Microsoft Dynamics 365 / Dataverse, through the Web API ``/api/data/v9.2/``.

    Implements :class:`~crm_pay.ports.CrmConnector`, :class:`~crm_pay.ports.BatchingCrm`
    (up to 100 payments per ``$batch``) and :class:`~crm_pay.ports.CrmTimeline`.

    ``settings`` holds ``tenant_id``, ``client_id``, ``org_url`` and optionally
    ``authority``, ``default_country_code``, ``default_currency`` and ``timeout``;
    ``secrets`` holds ``client_secret``; ``mapping`` overrides keys of
    :data:`DEFAULT_MAPPING`. A bad configuration raises ``ConfigurationError`` naming the
    field to fix. ``session`` (a ``requests.Session``) carries the Dataverse calls;
    ``clock`` (Unix seconds) decides when the cached token is refreshed.

    Every write is an idempotent upsert keyed by our ids, so a replay never duplicates:
    payments by an alternate key holding our payment id, balances by the contact id, and
    receipts and notes are looked up by subject on the contact before being created.
    """

    name = "dynamics"
    max_batch = 100
    SETTINGS_FIELDS = SETTINGS_FIELDS
    SECRET_FIELDS = SECRET_FIELDS
    DEFAULT_MAPPING = DEFAULT_MAPPING

    def __init__(
        self,
        settings: Mapping[str, object],
        secrets: Mapping[str, object],
        mapping: Mapping[str, str] | None = None,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        self.config = parse_config(settings, secrets, mapping, outbound=outbound)
        self._tokens = TokenSource(self.config, clock=clock, outbound=outbound)
        # Every connection is checked again when it is made (DNS rebinding).
        session = guard(session or requests.Session(), outbound)
        self._api = DataverseApi(self.config, self._tokens, session)
        self._map = self.config.mapping

    def __repr__(self) -> str:
        return f"DynamicsCrm(org_url={self.config.org_url!r})"

    # ------------------------------------------------------------------------ reads
    def find_customer(self, crm_ref: str) -> CrmCustomer | None:
        """The contact with this id (a GUID), or ``None``."""
        if not is_guid(crm_ref):
            return None
        row = self._api.get(
            f"{self._map['customer_entity_set']}({crm_ref})",
            {"$select": self._customer_select()},
            what="find customer",
        )
        return self._customer(row) if row is not None else None

    def find_customers_by_phone(self, e164: str) -> Sequence[CrmCustomer]:
        """Contacts whose phone columns hold this number, however it is written there.

        Dataverse cannot normalise phone numbers in a query, so we ask for the contacts
        whose number ends with the same four digits and compare the normalised numbers.
        """
        country = self.config.default_country_code
        wanted = normalize_phone(e164, country)
        columns = self.config.phone_columns
        if wanted is None or not columns:
            return []
        last4 = odata_string(wanted[-4:])
        rows = self._search(" or ".join(f"endswith({col},{last4})" for col in columns))
        return [
            customer
            for row, customer in rows
            if any(normalize_phone(str(row.get(col) or ""), country) == wanted for col in columns)
        ]

    def find_customers_by_email(self, email: str) -> Sequence[CrmCustomer]:
        """Contacts with this e-mail address (Dataverse compares case-insensitively)."""
        wanted = email.strip()
        if "@" not in wanted:
            return []
        column = self._map["customer_email_column"]
        return [customer for _, customer in self._search(f"{column} eq {odata_string(wanted)}")]

    def open_invoices(self, crm_ref: str) -> Sequence[CrmInvoice]:
        """None: invoices are not read from Dataverse; crm-pay uses its own ledger."""
        return []

    def cards_on_file(self, crm_ref: str) -> Sequence[StoredCard]:
        """None: Dataverse does not hold PSP card tokens."""
        return []

    # ------------------------------------------------------------------------ writes
    def upsert_payment(self, record: CrmPaymentRecord) -> None:
        """Create or update the payment row whose alternate key is ``record.payment_id``."""
        path, body = self._payment_request(record)
        self._api.send("PATCH", path, body=body, what=f"upsert of payment {record.payment_id}")

    def upsert_payments(self, records: Sequence[CrmPaymentRecord]) -> Sequence[RecordResult]:
        """Upsert up to :attr:`max_batch` payments in one ``$batch``, one change set each.

        Returns one result per record, in order, with Dataverse's message verbatim for
        the rejected ones. Raises ``CrmCallFailed`` when the batch as a whole failed.
        """
        if len(records) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} payments per batch, got {len(records)}")
        results: dict[int, RecordResult] = {}
        sent: list[tuple[int, BatchRequest]] = []
        for index, record in enumerate(records):
            try:
                path, body = self._payment_request(record)
                refuse_card_numbers(body, f"payment {record.payment_id}")
            except CrmCallFailed as exc:
                results[index] = RecordResult(
                    record.payment_id, False, exc.crm_message or str(exc), exc.retryable
                )
                continue
            sent.append((index, BatchRequest("PATCH", self._api.url(path), encode_json(body))))
        if sent:
            answers = self._send_batch([request for _, request in sent])
            for position, (index, _) in enumerate(sent):
                results[index] = _record_result(records[index].payment_id, answers, position)
        return [results[index] for index in range(len(records))]

    def update_balance(self, crm_ref: str, balance: Money, credit: Money) -> None:
        """Set the contact's balance and credit columns (last write wins).

        ``If-Match: *`` makes it an update only: an unknown contact is an error, never a
        new empty contact.
        """
        if balance.currency != credit.currency:
            raise ValidationError("balance and credit must be in the same currency")
        self._require_guid(crm_ref)
        body = {
            self._map[key]: Decimal(money.to_decimal_str())
            for key, money in (("balance_column", balance), ("credit_column", credit))
            if self._map[key]
        }
        if body:
            self._api.send(
                "PATCH",
                f"{self._map['customer_entity_set']}({crm_ref})",
                body=body,
                headers={"If-Match": "*"},
                what=f"balance update of contact {crm_ref}",
            )

    def attach_receipt(self, crm_ref: str, payment_id: str, number: str, pdf: bytes) -> None:
        """Attach receipt ``number`` to the contact as a note with the PDF; a receipt
        already attached there (same subject) is left as it is."""
        self._require_guid(crm_ref)
        if not number.strip() or len(number) > _SUBJECT_MAX:
            raise CrmCallFailed(f"receipt number {number!r} is not usable", retryable=False)
        fields = {
            "subject": number,
            "notetext": f"Receipt {number} for payment {payment_id}",
            "filename": f"{number}.pdf",
            "mimetype": "application/pdf",
            "documentbody": base64.b64encode(pdf).decode("ascii"),
        }
        self._create_note_once(crm_ref, f"subject eq {odata_string(number)}", fields, number)

    def add_timeline_note(self, crm_ref: str, key: str, text: str) -> None:
        """Add a note to the contact's timeline, once per ``key``.

        The subject starts with ``[key]``, which is how a replay recognises the note.
        """
        self._require_guid(crm_ref)
        if not key.strip() or len(key) > _KEY_MAX:
            raise CrmCallFailed(f"note key must be 1 to {_KEY_MAX} characters", retryable=False)
        marker = f"[{key}]"
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        subject = f"{marker} {first_line}".strip()[:_SUBJECT_MAX]
        condition = f"startswith(subject,{odata_string(marker)})"
        self._create_note_once(crm_ref, condition, {"subject": subject, "notetext": text}, key)

    # ------------------------------------------------------------------------ admin
    def test_connection(self) -> ConnectionReport:
        """Sign in, ask Dataverse who we are, and check the mapped tables and columns."""
        return run_checks(self._api, self._tokens, self.config)

    # ------------------------------------------------------------------------ internals
    def _customer_select(self) -> str:
        keys = ("customer_id_column", "customer_name_column", "customer_email_column")
        columns = [self._map[key] for key in keys] + list(self.config.phone_columns)
        if self._map["customer_psp_id_column"]:
            columns.append(self._map["customer_psp_id_column"])
        return ",".join(dict.fromkeys(columns))

    def _search(self, where: str) -> list[tuple[dict[str, Any], CrmCustomer]]:
        params = {"$select": self._customer_select(), "$filter": where, "$top": str(_MAX_MATCHES)}
        data = self._api.get(self._map["customer_entity_set"], params, what="customer search")
        rows = [row for row in (data or {}).get("value", []) if isinstance(row, dict)]
        found = [(row, self._customer(row)) for row in rows]
        return sorted(found, key=lambda pair: pair[1].crm_ref)

    def _customer(self, row: Mapping[str, Any]) -> CrmCustomer:
        country = self.config.default_country_code
        phones = (
            normalize_phone(str(row.get(c) or ""), country) for c in self.config.phone_columns
        )
        psp_column = self._map["customer_psp_id_column"]
        return CrmCustomer(
            crm_ref=str(row[self._map["customer_id_column"]]),
            name=str(row.get(self._map["customer_name_column"]) or ""),
            email=row.get(self._map["customer_email_column"]) or None,
            phone=next((phone for phone in phones if phone), None),
            currency=self.config.default_currency,
            psp_customer_id=(row.get(psp_column) or None) if psp_column else None,
        )

    def _payment_request(self, record: CrmPaymentRecord) -> tuple[str, dict[str, Any]]:
        if not record.payment_id or len(record.payment_id) > _KEY_MAX:
            raise CrmCallFailed(f"payment id {record.payment_id!r} is not usable", retryable=False)
        self._require_guid(record.customer_ref)
        body = {self._map[key]: value(record) for key, value in _PAYMENT_FIELDS if self._map[key]}
        lookup = f"{self._map['payment_customer_lookup']}@odata.bind"
        body[lookup] = f"/{self._map['customer_entity_set']}({record.customer_ref})"
        path = odata_key(
            self._map["payment_entity_set"], self._map["payment_key_column"], record.payment_id
        )
        return path, body

    def _send_batch(self, requests_: list[BatchRequest]) -> list[Any]:
        content_type, raw = build_batch(requests_)
        response = self._api.send(
            "POST",
            "$batch",
            raw_body=raw,
            headers={"Content-Type": content_type, "Prefer": "odata.continue-on-error"},
            what=f"$batch of {len(requests_)} payments",
        )
        try:
            return parse_batch(response.headers.get("Content-Type", ""), response.content)
        except ValueError as exc:
            # Upserts are idempotent, so sending the whole batch again is safe.
            raise CrmCallFailed(f"Dynamics 365 answered the $batch unreadably: {exc}") from None

    def _create_note_once(
        self, crm_ref: str, condition: str, fields: dict[str, Any], label: str
    ) -> None:
        """Create an annotation on the contact unless one matching ``condition`` is there.

        The card-number check runs first, so a refused note costs no call at all.
        """
        table, entity_set = self._map["customer_table"], self._map["customer_entity_set"]
        body = {**fields, f"objectid_{table}@odata.bind": f"/{entity_set}({crm_ref})"}
        what = f"note {label}"
        refuse_card_numbers(body, what)
        params = {
            "$select": "annotationid",
            "$filter": f"_objectid_value eq {crm_ref} and {condition}",
            "$top": "1",
        }
        existing = self._api.get("annotations", params, what=f"lookup of {what}")
        if (existing or {}).get("value"):
            return
        self._api.send("POST", "annotations", body=body, what=what)

    @staticmethod
    def _require_guid(crm_ref: str) -> None:
        if not is_guid(crm_ref):
            raise CrmCallFailed(
                f"{crm_ref!r} is not a Dataverse contact id (a GUID)",
                retryable=False,
                crm_message="the customer reference is not a Dataverse GUID",
            )


def _record_result(key: str, answers: list[Any], position: int) -> RecordResult:
    if position >= len(answers):
        return RecordResult(key, False, "Dynamics 365 did not answer for this record", True)
    answer = answers[position]
    if answer.status < 300:
        return RecordResult(key, True)
    code, message = odata_error(answer.status, answer.body)
    error = failure(
        answer.status,
        code,
        message,
        what=f"upsert of payment {key}",
        retry_after=answer.headers.get("retry-after"),
    )
    return RecordResult(key, False, message, error.retryable)


def _utc_text(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # naive date-times are UTC throughout crm-pay
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
