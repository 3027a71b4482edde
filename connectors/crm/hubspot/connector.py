"""The HubSpot CRM connector: contacts are customers, a custom object holds payments.

See ``docs/crm/hubspot.md`` for what to create in HubSpot and the mapping defaults.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
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

from . import records
from .auth import OAuthRefreshToken, PrivateAppToken, TokenSource
from .batch import upsert_batch
from .config import HubSpotConfig, parse_config
from .diagnostics import run_checks
from .transport import HubSpotApi

__all__ = ["HubSpotCrm"]

_RECORD_ID: Final = re.compile(r"[0-9]{1,20}")
_NOTE_TO_CONTACT: Final = 202  # HubSpot-defined association type: note -> contact
_SEARCH_LIMIT: Final = 100


class HubSpotCrm:
    """A HubSpot portal behind :class:`crm_pay.ports.CrmConnector`, with the optional
    :class:`~crm_pay.ports.BatchingCrm` (batch upsert, 100 per call) and
    :class:`~crm_pay.ports.CrmTimeline` (notes) capabilities.

    ``settings``, ``secrets`` and ``mapping`` are the admin's form values (see
    ``SETTINGS_FIELDS``, ``SECRET_FIELDS``, ``DEFAULT_MAPPING``); they are checked here and
    a ``ConfigurationError`` names the field to fix. ``session`` is the ``requests``
    session used for API calls (one is created if omitted); ``clock`` returns Unix seconds
    and decides when an OAuth token is renewed. ``on_refresh_token`` is called with a new
    refresh token if HubSpot ever issues one, so the caller can store it encrypted.
    ``outbound`` is the outbound URL policy every connection must pass.

    Writes are idempotent: payments are upserted by our payment id, receipts and notes are
    looked up by a marker before they are created. Failures raise
    :class:`~crm_pay.ports.CrmCallFailed` (or ``CrmAuthFailed``) with HubSpot's message
    verbatim in ``crm_message``.
    """

    name = "hubspot"
    max_batch = 100

    def __init__(
        self,
        settings: Mapping[str, str],
        secrets: Mapping[str, str],
        mapping: Mapping[str, str] | None = None,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        on_refresh_token: Callable[[str], None] | None = None,
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        self.config: HubSpotConfig = parse_config(settings, secrets, mapping, outbound=outbound)
        self._clock = clock
        tokens: TokenSource
        if self.config.auth == "private_app":
            tokens = PrivateAppToken(secrets["access_token"])
        else:
            tokens = OAuthRefreshToken(
                f"{self.config.base_url}/oauth/v1/token",
                self.config.client_id,
                secrets["client_secret"],
                secrets["refresh_token"],
                clock=clock,
                on_refresh_token=on_refresh_token,
                outbound=outbound,
            )
        # Every connection is checked again when it is made (DNS rebinding).
        session = guard(session or requests.Session(), outbound)
        self._api = HubSpotApi(self.config.base_url, tokens, session)

    def __repr__(self) -> str:
        return f"HubSpotCrm(auth={self.config.auth!r}, base_url={self.config.base_url!r})"

    # ------------------------------------------------------------------------ reads
    def find_customer(self, crm_ref: str) -> CrmCustomer | None:
        """The contact with this record ID, or ``None`` (also for an ID that is not one)."""
        if not _RECORD_ID.fullmatch(crm_ref):
            return None
        found = self._api.call(
            "GET",
            f"/crm/v3/objects/contacts/{crm_ref}",
            params={"properties": ",".join(records.contact_properties(self.config))},
            allow_404=True,
        )
        return records.customer_from_contact(self.config, found) if found else None

    def find_customers_by_phone(self, e164: str) -> Sequence[CrmCustomer]:
        """Contacts whose phone (or mobile) is this number, however HubSpot stores it."""
        country = self.config.default_country_code
        wanted = normalize_phone(e164, country)
        if wanted is None:
            return []
        spellings = records.phone_spellings(wanted)
        groups = [
            {"filters": [{"propertyName": prop, "operator": "IN", "values": spellings}]}
            for prop in self.config.phone_properties()
        ]
        found = self._search_contacts(groups)
        return [
            customer
            for contact, customer in found
            if any(
                normalize_phone(str(contact["properties"].get(p) or ""), country) == wanted
                for p in self.config.phone_properties()
            )
        ]

    def find_customers_by_email(self, email: str) -> Sequence[CrmCustomer]:
        """Contacts with this e-mail address (compared trimmed and case-insensitively)."""
        wanted = email.strip().casefold()
        if not wanted:
            return []
        groups = [{"filters": [{"propertyName": "email", "operator": "EQ", "value": wanted}]}]
        return [c for _, c in self._search_contacts(groups) if (c.email or "").casefold() == wanted]

    def open_invoices(self, crm_ref: str) -> Sequence[CrmInvoice]:
        """None: HubSpot holds no invoices we read (crm-pay's own invoices are used)."""
        return []

    def cards_on_file(self, crm_ref: str) -> Sequence[StoredCard]:
        """None: cards on file live at the PSP, never in HubSpot."""
        return []

    # ------------------------------------------------------------------------ writes
    def upsert_payments(self, records_: Sequence[CrmPaymentRecord]) -> Sequence[RecordResult]:
        """Upsert payments by our payment id, 100 per call; one result per record, in order.

        A record HubSpot refuses (HTTP 207 multi-status) gets its own failed result with
        HubSpot's message; validation errors are not retryable. A failure of the whole
        call (auth, rate limit, outage) raises instead.
        """
        results: dict[str, RecordResult] = {}
        latest = {r.payment_id: r for r in records_}  # the last word on a payment wins
        batch = list(latest.values())
        for start in range(0, len(batch), self.max_batch):
            chunk = batch[start : start + self.max_batch]
            results.update(upsert_batch(self._api, self.config, chunk))
        return [results[r.payment_id] for r in records_]

    def upsert_payment(self, record: CrmPaymentRecord) -> None:
        """Create or update one payment; raise ``CrmCallFailed`` if HubSpot refused it."""
        (result,) = self.upsert_payments([record])
        if not result.ok:
            raise CrmCallFailed(
                f"HubSpot refused payment {record.payment_id}: {result.error}",
                retryable=result.retryable,
                crm_message=result.error,
            )

    def update_balance(self, crm_ref: str, balance: Money, credit: Money) -> None:
        """Set the contact's balance and credit properties (last write wins)."""
        contact = self._contact_id(crm_ref)
        try:
            props = records.balance_properties(self.config, balance, credit)
        except ValidationError as exc:
            raise CrmCallFailed(str(exc), retryable=False) from None
        self._api.call("PATCH", f"/crm/v3/objects/contacts/{contact}", json={"properties": props})

    def attach_receipt(self, crm_ref: str, payment_id: str, number: str, pdf: bytes) -> None:
        """Upload receipt ``number`` (PDF, private) and note it on the contact's timeline.

        Idempotent: an existing file of that name in the receipts folder is reused, and the
        note is looked up by its marker before it is created.
        """
        contact = self._contact_id(crm_ref)
        try:
            stem = records.receipt_file_name(number)
        except ValidationError as exc:
            raise CrmCallFailed(str(exc), retryable=False) from None
        file_id = self._find_file(stem) or self._upload_pdf(stem, pdf)
        text = f"Receipt {number} for payment {payment_id} (PDF attached)."
        self._ensure_note(contact, records.note_marker("receipt", number), text, file_id)

    def add_timeline_note(self, crm_ref: str, key: str, text: str) -> None:
        """Add a note to the contact's timeline once per ``key`` (a replay adds nothing)."""
        contact = self._contact_id(crm_ref)
        self._ensure_note(contact, records.note_marker("timeline", key), text, None)

    # ------------------------------------------------------------------------ admin
    def test_connection(self) -> ConnectionReport:
        """Check the credentials, the payment object and every mapped property, in plain
        words; on failure each check carries HubSpot's own message."""
        return run_checks(self._api, self.config)

    # ------------------------------------------------------------------------ internals
    def _search_contacts(self, groups: list[dict[str, Any]]) -> list[tuple[Any, CrmCustomer]]:
        body = {
            "filterGroups": groups,
            "properties": records.contact_properties(self.config),
            "limit": _SEARCH_LIMIT,
        }
        found = self._api.call("POST", "/crm/v3/objects/contacts/search", json=body)
        contacts = sorted(found.get("results") or [], key=lambda c: int(c["id"]))
        return [(c, records.customer_from_contact(self.config, c)) for c in contacts]

    @staticmethod
    def _contact_id(crm_ref: str) -> str:
        if not _RECORD_ID.fullmatch(crm_ref):
            raise CrmCallFailed(
                f"{crm_ref!r} is not a HubSpot contact record ID (digits only)", retryable=False
            )
        return crm_ref

    def _find_file(self, stem: str) -> str | None:
        found = self._api.call("GET", "/files/v3/files/search", params={"name": stem})
        for item in found.get("results") or []:
            if item.get("name") == stem and str(item.get("extension", "")).lower() == "pdf":
                return str(item["id"])
        return None

    def _upload_pdf(self, stem: str, pdf: bytes) -> str:
        # Private: a receipt names a customer. No duplicate check by HubSpot: we looked the
        # file up by name ourselves, and HubSpot's check compares content, not names.
        options = json.dumps(
            {
                "access": "PRIVATE",
                "overwrite": False,
                "duplicateValidationStrategy": "NONE",
                "duplicateValidationScope": "EXACT_FOLDER",
            }
        )
        created = self._api.call(
            "POST",
            "/files/v3/files",
            data={"folderPath": self.config.receipts_folder, "fileName": stem, "options": options},
            files={"file": (f"{stem}.pdf", bytes(pdf), "application/pdf")},
        )
        return str(created["id"])

    def _ensure_note(self, contact: str, marker: str, text: str, file_id: str | None) -> None:
        by_marker = {"propertyName": "hs_note_body", "operator": "CONTAINS_TOKEN", "value": marker}
        search = {
            "filterGroups": [{"filters": [by_marker]}],
            "properties": ["hs_note_body"],
            "limit": 1,
        }
        if self._api.call("POST", "/crm/v3/objects/notes/search", json=search).get("total"):
            return
        props = {
            "hs_timestamp": records.hs_datetime(datetime.fromtimestamp(self._clock(), UTC)),
            "hs_note_body": records.note_body(text, marker),
        }
        if file_id is not None:
            props["hs_attachment_ids"] = file_id
        association = {
            "to": {"id": contact},
            "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": _NOTE_TO_CONTACT}
            ],
        }
        note = {"properties": props, "associations": [association]}
        self._api.call("POST", "/crm/v3/objects/notes", json=note)
