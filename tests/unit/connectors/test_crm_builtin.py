"""The builtin CRM: lookups, idempotent writes, persistence and fault injection."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from connectors.crm import DEMO_CARD_TOKENS, BuiltinCrm, CrmUnavailable, normalize_phone
from connectors.crm.demo_data import DEMO_CUSTOMERS
from crm_pay.domain.errors import ConfigurationError, Conflict, NotFound, ValidationError
from crm_pay.domain.money import Money
from crm_pay.ports import CrmConnector, CrmCustomer, CrmInvoice, CrmInvoiceLine, CrmPaymentRecord

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def usd(minor: int) -> Money:
    return Money(minor, "USD")


def record(
    payment_id: str = "pay-1",
    *,
    status: str = "settled",
    updated_at: datetime | None = T0,
    customer_ref: str = "CUST-0001",
) -> CrmPaymentRecord:
    return CrmPaymentRecord(
        payment_id=payment_id,
        customer_ref=customer_ref,
        status=status,
        amount=usd(54_130),
        channel="link",
        card_brand="Visa",
        card_last4="1111",
        psp_reference="bt-txn-1",
        receipt_number="R-2026-000001",
        created_at=T0,
        updated_at=updated_at,
        allocations=(("INV-1001", usd(54_130)),),
    )


@pytest.fixture
def crm() -> BuiltinCrm:
    return BuiltinCrm()


def test_implements_the_crm_port(crm: BuiltinCrm) -> None:
    assert isinstance(crm, CrmConnector)
    assert crm.name == "builtin"


def test_demo_customers_are_seeded(crm: BuiltinCrm) -> None:
    refs = [f"CUST-000{i}" for i in range(1, 7)]
    assert [crm.find_customer(ref).crm_ref for ref in refs] == refs  # type: ignore[union-attr]
    assert crm.find_customer("CUST-9999") is None
    assert BuiltinCrm(seed_demo=False).find_customer("CUST-0001") is None


@pytest.mark.parametrize(
    "written",
    ["+14155550142", "(415) 555-0142", "+1 415 555 0142", "415.555.0142", "1-415-555-0142"],
)
def test_phone_lookup_tolerates_formats_and_returns_everyone_on_a_shared_line(
    crm: BuiltinCrm, written: str
) -> None:
    found = crm.find_customers_by_phone(written)
    assert [c.crm_ref for c in found] == ["CUST-0003", "CUST-0004"]


def test_phone_lookup_matches_numbers_stored_in_other_formats(crm: BuiltinCrm) -> None:
    crm.add_customer(CrmCustomer("CUST-0100", "Ada Brook", phone="(646) 555-0199"))
    assert [c.crm_ref for c in crm.find_customers_by_phone("+16465550199")] == ["CUST-0100"]
    assert [c.crm_ref for c in crm.find_customers_by_phone("+1 212 555 0101")] == ["CUST-0001"]


@pytest.mark.parametrize("written", ["", "not a phone", "555-0142", "+1 415 555 0142 ext 7"])
def test_phone_lookup_of_something_else_finds_nobody(crm: BuiltinCrm, written: str) -> None:
    assert crm.find_customers_by_phone(written) == []


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("(555) 123-4567", "+15551234567"),
        ("+44 20 7946 0018", "+442079460018"),
        ("0044 20 7946 0018", "+442079460018"),
        ("12345", None),
        ("+1 555 CALL NOW", None),
    ],
)
def test_normalize_phone(written: str, e164: str | None) -> None:
    assert normalize_phone(written) == e164


def test_normalize_phone_with_another_default_country() -> None:
    assert normalize_phone("020 7946 0018", default_country_code="44") == "+442079460018"


def test_email_lookup_is_trimmed_and_case_insensitive(crm: BuiltinCrm) -> None:
    found = crm.find_customers_by_email("  Eleanor.Whitfield@EXAMPLE.com ")
    assert [c.crm_ref for c in found] == ["CUST-0001"]
    assert crm.find_customers_by_email("nobody@example.com") == []
    assert crm.find_customers_by_email("   ") == []


def test_open_invoices_leave_out_paid_ones_and_come_oldest_due_first(crm: BuiltinCrm) -> None:
    assert [inv.crm_ref for inv in crm.open_invoices("CUST-0006")] == ["INV-1008"]
    due = [inv.due_on for inv in crm.open_invoices("CUST-0003")]
    assert due == sorted(due) and len(due) == 3
    assert crm.open_invoices("CUST-0005") == []
    assert crm.open_invoices("CUST-9999") == []


def test_invoice_totals_are_lines_plus_tax_plus_shipping(crm: BuiltinCrm) -> None:
    invoices = [inv for c in DEMO_CUSTOMERS for inv in crm.open_invoices(c.crm_ref)]
    assert len(invoices) == 8
    for inv in invoices:
        expected = inv.shipping.minor + sum(
            line.unit_price.minor * line.quantity + line.tax.minor for line in inv.lines
        )
        assert inv.total.minor == expected
        assert inv.issued_on < inv.due_on
        assert inv.currency == "USD" and inv.lines
    first = next(inv for inv in invoices if inv.crm_ref == "INV-1001")
    # 2 x 189.00 + 6 x 14.50 = 465.00 net, 41.30 tax, 35.00 shipping
    assert (first.tax, first.shipping, first.total) == (usd(4_130), usd(3_500), usd(54_130))


def test_demo_dates_are_fixed_not_relative_to_today(crm: BuiltinCrm) -> None:
    first = crm.open_invoices("CUST-0001")[0]
    assert (first.crm_ref, first.issued_on, first.due_on) == (
        "INV-1001",
        date(2026, 1, 16),
        date(2026, 2, 15),
    )


def test_cards_on_file_are_demo_tokens_default_first(crm: BuiltinCrm) -> None:
    cards = crm.cards_on_file("CUST-0001")
    assert [(c.token, c.card.brand, c.card.last4, c.is_default) for c in cards] == [
        ("demo-token-visa-1111", "Visa", "1111", True),
        ("demo-token-mastercard-4444", "MasterCard", "4444", False),
    ]
    assert all(DEMO_CARD_TOKENS[c.token] == c.card for c in cards)
    assert crm.cards_on_file("CUST-0002") == []


def test_upsert_payment_twice_keeps_one_record(crm: BuiltinCrm) -> None:
    crm.upsert_payment(record())
    crm.upsert_payment(record())
    [stored] = crm.payments_for("CUST-0001")
    assert stored["payment_id"] == "pay-1"
    assert stored["amount"] == {"minor": 54_130, "currency": "USD"}
    assert stored["allocations"] == [["INV-1001", {"minor": 54_130, "currency": "USD"}]]


def test_an_older_update_never_overwrites_a_newer_one(crm: BuiltinCrm) -> None:
    crm.upsert_payment(record(status="settled", updated_at=T0 + timedelta(minutes=5)))
    crm.upsert_payment(record(status="authorized", updated_at=T0))
    crm.upsert_payment(record(status="processing", updated_at=None))
    assert [p["status"] for p in crm.payments_for("CUST-0001")] == ["settled"]

    crm.upsert_payment(record(status="voided", updated_at=T0 + timedelta(minutes=6)))
    assert [p["status"] for p in crm.payments_for("CUST-0001")] == ["voided"]


def test_naive_and_aware_update_times_compare(crm: BuiltinCrm) -> None:
    crm.upsert_payment(record(status="settled", updated_at=datetime(2026, 3, 2, 16, 0)))
    crm.upsert_payment(record(status="authorized", updated_at=T0))
    assert crm.payments_for("CUST-0001")[0]["status"] == "settled"


def test_writes_for_an_unknown_customer_are_refused(crm: BuiltinCrm) -> None:
    with pytest.raises(NotFound):
        crm.upsert_payment(record(customer_ref="CUST-9999"))
    with pytest.raises(NotFound):
        crm.update_balance("CUST-9999", usd(0), usd(0))
    with pytest.raises(NotFound):
        crm.attach_receipt("CUST-9999", "pay-1", "R-2026-000001", b"%PDF-")


def test_update_balance(crm: BuiltinCrm) -> None:
    assert crm.balance_of("CUST-0001") is None
    crm.update_balance("CUST-0001", usd(62_839), usd(0))
    crm.update_balance("CUST-0001", usd(-870), usd(870))
    assert crm.balance_of("CUST-0001") == (usd(-870), usd(870))
    with pytest.raises(ValidationError):
        crm.update_balance("CUST-0001", usd(0), Money(0, "EUR"))


def test_attach_receipt_is_idempotent_in_memory(crm: BuiltinCrm) -> None:
    crm.attach_receipt("CUST-0001", "pay-1", "R-2026-000001", b"%PDF-1")
    crm.attach_receipt("CUST-0001", "pay-1", "R-2026-000001", b"%PDF-1")
    assert crm.receipts_for("CUST-0001") == ["R-2026-000001"]
    assert crm.receipt_pdf("R-2026-000001") == b"%PDF-1"
    assert crm.receipt_pdf("R-2026-000002") is None


def test_attach_receipt_writes_the_file_next_to_the_data(tmp_path: Path) -> None:
    crm = BuiltinCrm(tmp_path / "crm.json")
    crm.attach_receipt("CUST-0001", "pay-1", "R-2026-000001", b"%PDF-1")
    crm.attach_receipt("CUST-0001", "pay-1", "R-2026-000001", b"%PDF-1")
    assert (tmp_path / "crm_files" / "R-2026-000001.pdf").read_bytes() == b"%PDF-1"
    assert [p.name for p in (tmp_path / "crm_files").iterdir()] == ["R-2026-000001.pdf"]
    assert crm.receipts_for("CUST-0001") == ["R-2026-000001"]


def test_a_receipt_number_belongs_to_one_customer(crm: BuiltinCrm) -> None:
    crm.attach_receipt("CUST-0001", "pay-1", "R-2026-000001", b"%PDF-1")
    with pytest.raises(Conflict):
        crm.attach_receipt("CUST-0002", "pay-2", "R-2026-000001", b"%PDF-2")


@pytest.mark.parametrize("number", ["../escape", ".hidden", "R/2026", ""])
def test_a_receipt_number_that_is_no_file_name_is_refused(tmp_path: Path, number: str) -> None:
    crm = BuiltinCrm(tmp_path / "crm.json")
    with pytest.raises(ValidationError):
        crm.attach_receipt("CUST-0001", "pay-1", number, b"%PDF-1")
    assert not (tmp_path / "crm_files").exists()


def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "crm.json"
    crm = BuiltinCrm(path)
    assert path.exists(), "the demo data is written at once"
    crm.add_customer(CrmCustomer("CUST-0100", "Ada Brook", email="ada@example.com"))
    crm.add_invoice(
        CrmInvoice(
            "INV-2001",
            "CUST-0100",
            "USD",
            date(2026, 3, 1),
            date(2026, 3, 31),
            (CrmInvoiceLine("Consulting hour", 3, usd(12_000), usd(0)),),
            usd(0),
        )
    )
    crm.upsert_payment(record())
    crm.update_balance("CUST-0001", usd(8_709), usd(0))
    crm.attach_receipt("CUST-0001", "pay-1", "R-2026-000001", b"%PDF-1")

    again = BuiltinCrm(path)
    assert again.payments_for("CUST-0001") == crm.payments_for("CUST-0001")
    assert again.balance_of("CUST-0001") == (usd(8_709), usd(0))
    assert again.receipt_pdf("R-2026-000001") == b"%PDF-1"
    assert again.find_customers_by_email("ADA@example.com")[0].name == "Ada Brook"
    assert again.open_invoices("CUST-0100") == crm.open_invoices("CUST-0100")
    assert again.open_invoices("CUST-0001") == crm.open_invoices("CUST-0001")
    assert again.cards_on_file("CUST-0001") == crm.cards_on_file("CUST-0001")
    assert json.loads(path.read_text())["format"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_file_that_is_not_a_crm_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "crm.json"
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match="move it away"):
        BuiltinCrm(path)
    path.write_text("[]")
    with pytest.raises(ConfigurationError):
        BuiltinCrm(path)


def test_fail_writes_raises_then_recovers(crm: BuiltinCrm) -> None:
    crm.fail_writes(2)
    for _ in range(2):
        with pytest.raises(CrmUnavailable) as raised:
            crm.upsert_payment(record())
        assert raised.value.code == "crm_unavailable"
    assert crm.payments_for("CUST-0001") == []
    assert crm.find_customer("CUST-0001") is not None, "reads keep working"
    crm.upsert_payment(record())
    assert len(crm.payments_for("CUST-0001")) == 1


def test_fail_writes_with_a_given_error_and_healing(crm: BuiltinCrm) -> None:
    crm.fail_writes(5, TimeoutError("slow CRM"))
    with pytest.raises(TimeoutError):
        crm.update_balance("CUST-0001", usd(1), usd(0))
    with pytest.raises(TimeoutError):
        crm.attach_receipt("CUST-0001", "pay-1", "R-2026-000001", b"%PDF-1")
    assert crm.balance_of("CUST-0001") is None and crm.receipts_for("CUST-0001") == []
    crm.fail_writes(0)
    crm.update_balance("CUST-0001", usd(1), usd(0))
    assert crm.balance_of("CUST-0001") == (usd(1), usd(0))


def test_a_failed_write_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "crm.json"
    crm = BuiltinCrm(path)
    before = path.read_bytes()
    crm.fail_writes(1)
    with pytest.raises(CrmUnavailable):
        crm.upsert_payment(record())
    assert path.read_bytes() == before


def test_concurrent_writes_are_all_kept(tmp_path: Path) -> None:
    crm = BuiltinCrm(tmp_path / "crm.json")
    threads = [
        threading.Thread(target=crm.upsert_payment, args=(record(f"pay-{i}"),)) for i in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(BuiltinCrm(tmp_path / "crm.json").payments_for("CUST-0001")) == 20


def test_connection_report(tmp_path: Path) -> None:
    report = BuiltinCrm().test_connection()
    assert report.ok
    assert report.checks[0] == ("storage", True, "in memory; nothing is persisted")
    assert ("data", True, "6 customers, 8 open invoices") in report.checks

    path = tmp_path / "crm.json"
    report = BuiltinCrm(path).test_connection()
    assert report.ok and report.checks[0] == ("storage", True, f"file {path} writable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write read-only files")
def test_connection_report_on_a_read_only_file(tmp_path: Path) -> None:
    path = tmp_path / "crm.json"
    crm = BuiltinCrm(path)
    path.chmod(0o444)
    report = crm.test_connection()
    assert not report.ok
    assert "not writable" in report.checks[0][2]
