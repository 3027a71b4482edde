"""``SalesforceCrm``: the CRM port over Salesforce's REST API.

Reads (customer lookups, invoices, cards) are SOQL/SOSL queries whose every literal is
escaped and whose record ids are checked to be ids first. Writes are idempotent by
construction, so the outbox may replay them: payments are upserted by our external id
(one record, or up to 200 with sObject Collections), balances are plain field updates,
receipts and timeline notes are looked up by a key of ours before they are created.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

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
from vault.pan import redact_obj

from .admin import connection_report
from .auth import SalesforceAuth
from .client import SalesforceApi
from .errors import record_result
from .mapping import (
    FieldMap,
    SalesforceValueError,
    is_record_id,
    soql_ends_with,
    soql_quote,
    soql_select,
    to_salesforce_money,
)
from .phones import phone_spellings, search_digits
from .settings import Settings

__all__ = ["SalesforceCrm"]

log = logging.getLogger(__name__)

_MAX_BATCH: Final = 200  # sObject Collections' limit
_LOOKUP_LIMIT: Final = 200
_NOTE_KEY_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-"
)


class SalesforceCrm:
    """A Salesforce org as crm-pay's CRM (``CrmConnector``, ``BatchingCrm``, ``CrmTimeline``).

    ``settings`` and ``secrets`` use the names of :data:`SETTINGS_FIELDS` and
    :data:`SECRET_FIELDS`; ``mapping`` overrides keys of :data:`DEFAULT_MAPPING`. Bad
    settings or mapping raise ``ConfigurationError`` here; missing or wrong credentials
    surface on the first call (and in :meth:`test_connection`) as ``CrmAuthFailed``.
    """

    name = "salesforce"
    max_batch = _MAX_BATCH

    def __init__(
        self,
        settings: Mapping[str, str],
        secrets: Mapping[str, str],
        mapping: Mapping[str, str] | None = None,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        self.settings = Settings.from_mapping(settings, outbound=outbound)
        self.fields = FieldMap.from_mapping(mapping)
        self._clock = clock
        # Every connection is checked again when it is made (DNS rebinding), including
        # those to the instance URL the token server names.
        http = guard(session if session is not None else requests.Session(), outbound)
        auth = SalesforceAuth(
            flow=self.settings.auth_flow,
            login_url=self.settings.login_url,
            client_id=self.settings.client_id,
            username=self.settings.username,
            audience=self.settings.jwt_audience,
            private_key=secrets.get("private_key") or None,
            client_secret=secrets.get("client_secret") or None,
            session=http,
            clock=clock,
            timeout=self.settings.timeout,
            session_lifetime=self.settings.session_lifetime,
            outbound=outbound,
        )
        self.api = SalesforceApi(
            auth,
            session=http,
            api_version=self.settings.api_version,
            timeout=self.settings.timeout,
            clock=clock,
        )

    def __repr__(self) -> str:  # no secret may reach a log through repr()
        return f"<SalesforceCrm {self.settings.login_url} client_id={self.settings.client_id}>"

    # ------------------------------------------------------------------ reads
    def find_customer(self, crm_ref: str) -> CrmCustomer | None:
        """The customer with this record id, or ``None`` (also for text that is no id)."""
        if not is_record_id(crm_ref):
            log.info("refused a customer lookup by something that is not a Salesforce id")
            return None
        rows = self._customers_where(f"Id = {soql_quote(crm_ref)}", limit=1)
        return rows[0] if rows else None

    def find_customers_by_phone(self, e164: str) -> Sequence[CrmCustomer]:
        """Customers with this phone number however it is stored ("(415) 555-0142",
        "+1 415 555 0142", ...): SOQL over the usual spellings, SOSL over the phone index,
        then every stored number normalised and compared."""
        country = self.settings.phone_country_code
        wanted = normalize_phone(e164, country)
        if wanted is None:
            return []
        fields = self.fields
        spellings = ", ".join(soql_quote(text) for text in phone_spellings(wanted, country))
        where = " OR ".join(f"{name} IN ({spellings})" for name in fields.phone_fields)
        if not where:
            return []
        rows = self._rows_where(where, limit=_LOOKUP_LIMIT, what="customer lookup by phone")
        select = ", ".join(fields.customer_fields())
        terms = " OR ".join(sorted(search_digits(wanted, country)))  # digits only: no escaping
        sosl = (
            f"FIND {{{terms}}} IN PHONE FIELDS RETURNING "
            f"{fields['customer_object']}({select}) LIMIT {_LOOKUP_LIMIT}"
        )
        rows += self.api.search(sosl, "customer search by phone")
        matching: dict[str, CrmCustomer] = {}
        for row in rows:
            stored = fields.stored_phones(row)
            if any(normalize_phone(text, country) == wanted for text in stored):
                customer = self._customer(row)
                matching.setdefault(customer.crm_ref, customer)
        return sorted(matching.values(), key=lambda c: c.crm_ref)

    def find_customers_by_email(self, email: str) -> Sequence[CrmCustomer]:
        """Customers with this e-mail address ([] when no e-mail field is mapped)."""
        field = self.fields["customer_email_field"]
        wanted = email.strip()
        if not field or "@" not in wanted:
            return []
        try:
            literal = soql_quote(wanted)
        except SalesforceValueError:
            return []
        customers = self._customers_where(f"{field} = {literal}", limit=_LOOKUP_LIMIT)
        same = [c for c in customers if (c.email or "").strip().casefold() == wanted.casefold()]
        return sorted(same, key=lambda c: c.crm_ref)

    def open_invoices(self, crm_ref: str) -> Sequence[CrmInvoice]:
        """Open invoices of the mapped invoice object, oldest due first ([] if unmapped)."""
        fields = self.fields
        if not fields["invoice_object"] or not is_record_id(crm_ref):
            return []
        conditions = [f"{fields['invoice_customer_field']} = {soql_quote(crm_ref)}"]
        statuses = fields.open_statuses()
        if fields["invoice_status_field"] and statuses:
            listed = ", ".join(soql_quote(s) for s in statuses)
            conditions.append(f"{fields['invoice_status_field']} IN ({listed})")
        soql = soql_select(
            fields.invoice_fields(),
            fields["invoice_object"],
            " AND ".join(conditions),
            _LOOKUP_LIMIT,
        )
        customer = self.find_customer(crm_ref)
        currency = customer.currency if customer else self.settings.default_currency
        invoices = []
        for row in self.api.query(soql, "open invoices"):
            try:
                invoice = fields.invoice_from(row, customer_ref=crm_ref, default_currency=currency)
            except ValidationError as exc:
                raise CrmCallFailed(
                    f"a Salesforce invoice cannot be read: {exc}", retryable=False
                ) from None
            if invoice.total.is_positive():
                invoices.append(invoice)
        return sorted(invoices, key=lambda inv: (inv.due_on, inv.crm_ref))

    def cards_on_file(self, crm_ref: str) -> Sequence[StoredCard]:
        """Cards of the mapped card object (PSP token, brand, last 4), default first."""
        fields = self.fields
        if not fields["card_object"] or not is_record_id(crm_ref):
            return []
        where = f"{fields['card_customer_field']} = {soql_quote(crm_ref)}"
        soql = soql_select(fields.card_fields(), fields["card_object"], where, 50)
        cards = []
        for row in self.api.query(soql, "cards on file"):
            found = fields.card_from(row)
            if found is not None:
                token, summary, is_default = found
                cards.append(StoredCard(token=token, card=summary, is_default=is_default))
        return sorted(cards, key=lambda card: not card.is_default)

    # ------------------------------------------------------------------ writes
    def upsert_payment(self, record: CrmPaymentRecord) -> None:
        """Create or update the payment record whose external id is ``record.payment_id``."""
        fields = self.fields
        body = self._payment_body(record)
        path = (
            f"sobjects/{fields['payment_object']}/{fields['payment_external_id_field']}/"
            f"{quote(record.payment_id, safe='')}"
        )
        self.api.call("PATCH", path, f"upsert payment {record.payment_id}", body=body)

    def upsert_payments(self, records: Sequence[CrmPaymentRecord]) -> Sequence[RecordResult]:
        """Upsert many payments, 200 per call; one result per record, in order.

        A record Salesforce rejects carries its message verbatim; validation errors are
        not retryable, lock contention and limits are. A failure of the whole call raises.
        """
        results: dict[str, RecordResult] = {}
        sendable: dict[str, dict[str, Any]] = {}  # later duplicates of an id win
        for record in records:
            try:
                body = self._payment_body(record)
            except CrmCallFailed as exc:
                results[record.payment_id] = RecordResult(
                    record.payment_id, ok=False, error=exc.crm_message or str(exc), retryable=False
                )
                continue
            sendable.pop(record.payment_id, None)
            results.pop(record.payment_id, None)
            sendable[record.payment_id] = body
        keys = list(sendable)
        for start in range(0, len(keys), _MAX_BATCH):
            chunk = keys[start : start + _MAX_BATCH]
            results.update(self._upsert_chunk(chunk, [sendable[key] for key in chunk]))
        return [results[record.payment_id] for record in records]

    def update_balance(self, crm_ref: str, balance: Money, credit: Money) -> None:
        """Write the balance and credit fields of the customer record."""
        if balance.currency != credit.currency:
            raise CrmCallFailed("balance and credit must be in the same currency", retryable=False)
        fields = self.fields
        body = {
            name: to_salesforce_money(amount)
            for name, amount in (
                (fields["customer_balance_field"], balance),
                (fields["customer_credit_field"], credit),
            )
            if name
        }
        if not body:
            return
        path = f"sobjects/{fields['customer_object']}/{self._record_id(crm_ref)}"
        self.api.call("PATCH", path, f"update balance of {crm_ref}", body=body)

    def attach_receipt(self, crm_ref: str, payment_id: str, number: str, pdf: bytes) -> None:
        """Upload receipt ``number`` as a ContentVersion linked to the payment record (or
        the customer); skipped when a file with this title is already linked there."""
        parent = self._receipt_parent(crm_ref, payment_id)
        what = f"attach receipt {number}"
        try:
            title = soql_quote(number)
        except SalesforceValueError:
            raise CrmCallFailed(
                f"receipt number {number!r} is not valid", retryable=False
            ) from None
        where = f"Title = {title} AND FirstPublishLocationId = {soql_quote(parent)}"
        existing = self.api.query(soql_select(["Id"], "ContentVersion", where, 1), what)
        if existing:
            log.info("receipt %s is already attached in Salesforce; nothing to do", number)
            return
        body = {
            "Title": number,
            "PathOnClient": f"{number}.pdf",
            "VersionData": base64.b64encode(pdf).decode("ascii"),
            "FirstPublishLocationId": parent,
        }
        self.api.call("POST", "sobjects/ContentVersion", what, body=body)

    def add_timeline_note(self, crm_ref: str, key: str, text: str) -> None:
        """A completed Task on the customer, its subject ending in ``[crm-pay:<key>]`` so
        the same key is never written twice."""
        if not key or len(key) > 100 or not set(key) <= _NOTE_KEY_CHARS:
            raise CrmCallFailed(f"timeline note key {key!r} is not valid", retryable=False)
        fields = self.fields
        parent = self._record_id(crm_ref)
        marker = f"[crm-pay:{key}]"
        what = f"timeline note {key}"
        note_object, parent_field = fields["note_object"], fields["note_parent_field"]
        where = f"{parent_field} = {soql_quote(parent)} AND Subject LIKE {soql_ends_with(marker)}"
        existing = self.api.query(soql_select(["Id"], note_object, where, 1), what)
        if existing:
            return
        head = (text.strip().splitlines() or ["crm-pay"])[0]
        head = head[: 255 - len(marker) - 1].rstrip()
        body: dict[str, Any] = {"Subject": f"{head} {marker}", "Description": text}
        body[parent_field] = parent
        if note_object == "Task":
            body["Status"] = "Completed"
            body["ActivityDate"] = datetime.fromtimestamp(self._clock(), UTC).date().isoformat()
        self.api.call("POST", f"sobjects/{note_object}", what, body=body)

    # ------------------------------------------------------------------ admin
    def test_connection(self) -> ConnectionReport:
        """Authenticate afresh and check that every mapped object and field is usable."""
        return connection_report(self.api, self.fields, self.settings)

    # ------------------------------------------------------------------ internals
    def _customer(self, row: Mapping[str, Any]) -> CrmCustomer:
        return self.fields.customer_from(
            row,
            default_currency=self.settings.default_currency,
            country_code=self.settings.phone_country_code,
        )

    def _rows_where(self, where: str, *, limit: int, what: str) -> list[dict[str, Any]]:
        fields = self.fields
        soql = soql_select(fields.customer_fields(), fields["customer_object"], where, limit)
        return self.api.query(soql, what)

    def _customers_where(self, where: str, *, limit: int) -> list[CrmCustomer]:
        rows = self._rows_where(where, limit=limit, what="customer lookup")
        return [self._customer(row) for row in rows]

    def _record_id(self, crm_ref: str) -> str:
        if not is_record_id(crm_ref):
            raise CrmCallFailed(
                f"{crm_ref!r} is not a Salesforce record id",
                retryable=False,
                crm_message="not a Salesforce record id",
            )
        return crm_ref

    def _payment_body(self, record: CrmPaymentRecord) -> dict[str, Any]:
        try:
            body = self.fields.payment_fields(record)
        except SalesforceValueError as exc:
            raise CrmCallFailed(str(exc), retryable=False, crm_message=str(exc)) from None
        if redact_obj([record.payment_id, body])[1]:
            log.error("ALERT: a payment record holds a card number; it was not sent to Salesforce")
            raise CrmCallFailed(
                "refused to send a card number to Salesforce",
                retryable=False,
                crm_message="payload holds a card number (not sent)",
            )
        return body

    def _upsert_chunk(
        self, keys: list[str], bodies: list[dict[str, Any]]
    ) -> dict[str, RecordResult]:
        fields = self.fields
        ext, obj = fields["payment_external_id_field"], fields["payment_object"]
        payload = {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": obj}, ext: key, **body}
                for key, body in zip(keys, bodies, strict=True)
            ],
        }
        response = self.api.call(
            "PATCH", f"composite/sobjects/{obj}/{ext}", f"upsert {len(keys)} payments", body=payload
        )
        answers = response.json()
        if not isinstance(answers, list) or len(answers) != len(keys):
            raise CrmCallFailed("Salesforce answered the batch upsert with an unexpected shape")
        return {key: record_result(key, answer) for key, answer in zip(keys, answers, strict=True)}

    def _receipt_parent(self, crm_ref: str, payment_id: str) -> str:
        fields = self.fields
        if fields["receipt_parent"] == "customer":
            return self._record_id(crm_ref)
        path = (
            f"sobjects/{fields['payment_object']}/{fields['payment_external_id_field']}/"
            f"{quote(payment_id, safe='')}"
        )
        found = self.api.call(
            "GET", path, f"find payment {payment_id}", params={"fields": "Id"}, allow_404=True
        )
        body = found.json() if found.status_code == 200 else None
        record_id = body.get("Id") if isinstance(body, dict) else None
        if not isinstance(record_id, str) or not is_record_id(record_id):
            # The payment's own upsert is queued before the receipt; wait for it.
            raise CrmCallFailed(
                f"payment {payment_id} is not in Salesforce yet; the receipt will follow it",
                retryable=True,
            )
        return record_id
