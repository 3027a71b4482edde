"""Reconciliation matching, as a supervisor reads the daily report: what matched, what
totals, and each difference exactly once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_pay.domain.reconciliation import (
    DISPUTE_MONEY_GONE,
    DayMatcher,
    DifferenceKind,
    LedgerDisputeRecord,
    LedgerRecord,
    PspDisputeRecord,
    PspRecord,
    chargeback_due,
    day_bounds,
    payment_id_from_order_id,
    reconcile_day,
    status_agrees,
)

DAY = date(2026, 3, 14)
NOON = datetime(2026, 3, 14, 12, tzinfo=UTC)
K = DifferenceKind


def psp(
    psp_id: str,
    minor: int = 1000,
    *,
    status: str = "submitted_for_settlement",
    kind: str = "sale",
    currency: str = "USD",
    order: str | None = None,
    account: str = "acme_usd",
    at: datetime = NOON,
) -> PspRecord:
    return PspRecord(psp_id, kind, status, minor, currency, order or "", account, at)


def ours(
    psp_id: str,
    minor: int = 1000,
    *,
    status: str = "submitted_for_settlement",
    kind: str = "sale",
    currency: str = "USD",
    payment: str | None = None,
    at: datetime = NOON,
) -> LedgerRecord:
    return LedgerRecord(psp_id, payment or f"pay_{psp_id}", kind, status, minor, currency, at)


def kinds(report: object) -> list[tuple[str, str]]:
    return sorted((d.kind.value, d.psp_id) for d in report.differences)  # type: ignore[attr-defined]


def test_a_clean_day_matches_everything_and_totals_per_currency_and_account() -> None:
    report = reconcile_day(
        DAY,
        [
            ours("a", 1000),
            ours("b", 250, status="settled"),
            ours("c", 500, currency="GBP"),
            ours("r1", 300, kind="credit", status="refunded", payment="pay_a"),
        ],
        [
            psp("a", 1000, order="pay_a-1"),
            psp("b", 250, status="settling"),
            psp("c", 500, currency="GBP", account="acme_gbp"),
            psp("r1", 300, kind="credit", order="pay_a-1"),
        ],
    )
    assert report.differences == ()
    assert (report.psp_rows, report.ledger_rows, report.matched) == (4, 4, 4)
    totals = {(t.currency, t.merchant_account): t for t in report.totals}
    usd = totals[("USD", "acme_usd")]
    assert (usd.sales_count, usd.sales_minor, usd.refunds_count, usd.refunds_minor) == (
        2,
        1250,
        1,
        300,
    )
    assert usd.net_minor == 950
    assert totals[("GBP", "acme_gbp")].sales_minor == 500


def test_each_kind_of_difference_is_one_line_with_both_sides_in_words() -> None:
    report = reconcile_day(
        DAY,
        [
            ours("gone", 1000),  # the PSP never had it
            ours("amt", 1000),
            ours("cur", 1000, currency="USD"),
            ours("void", 1000, status="settled"),
        ],
        [
            psp("extra", 4200, status="settled"),  # a charge we do not know
            psp("amt", 1200),
            psp("cur", 1000, currency="EUR"),
            psp("void", 1000, status="voided"),
        ],
    )
    lines = {d.kind: d for d in report.differences}
    assert kinds(report) == [
        ("amount_mismatch", "amt"),
        ("currency_mismatch", "cur"),
        ("missing_at_psp", "gone"),
        ("missing_in_ledger", "extra"),
        ("status_mismatch", "void"),
    ]
    assert (lines[K.MISSING_IN_LEDGER].ours, lines[K.MISSING_IN_LEDGER].theirs) == (
        None,
        "42.00 USD settled",
    )
    assert lines[K.MISSING_IN_LEDGER].payment_id is None
    assert (lines[K.MISSING_AT_PSP].ours, lines[K.MISSING_AT_PSP].theirs) == (
        "10.00 USD submitted_for_settlement",
        None,
    )
    assert (lines[K.AMOUNT_MISMATCH].ours, lines[K.AMOUNT_MISMATCH].theirs) == (
        "10.00 USD",
        "12.00 USD",
    )
    assert lines[K.AMOUNT_MISMATCH].payment_id == "pay_amt"
    assert lines[K.CURRENCY_MISMATCH].theirs == "10.00 EUR"
    assert lines[K.STATUS_MISMATCH].ours == "sale settled"
    assert lines[K.STATUS_MISMATCH].theirs == "sale voided"
    assert report.matched == 0
    assert report.totals == ()
    assert {d.case_subject for d in report.differences} == {
        f"psp:{x}" for x in ("gone", "amt", "cur", "void", "extra")
    }


@pytest.mark.parametrize(
    ("kind", "mine", "theirs", "agree"),
    [
        ("sale", "submitted_for_settlement", "settling", True),
        ("sale", "submitted_for_settlement", "settled", True),  # PSP ahead: polling lag
        ("sale", "authorized", "settled", True),
        ("sale", "settled", "settling", True),
        ("sale", "settled", "submitted_for_settlement", False),  # we may not be ahead
        ("sale", "settled", "voided", False),
        ("sale", "voided", "settled", False),
        ("sale", "voided", "voided", True),
        ("sale", "declined", "processor_declined", True),
        ("sale", "declined", "settled", False),
        ("sale", "expired", "gateway_rejected", True),
        ("sale", "unknown", "settled", False),
        ("sale", "settled", "settlement_declined", False),
        ("credit", "refunded", "submitted_for_settlement", True),
        ("credit", "refunded", "voided", False),
    ],
)
def test_status_mapping(kind: str, mine: str, theirs: str, agree: bool) -> None:
    assert status_agrees(kind, mine, theirs) is agree


def test_a_declined_attempt_at_the_psp_is_no_money_not_a_difference() -> None:
    report = reconcile_day(
        DAY,
        [ours("second", 1000, payment="pay_x")],
        [
            psp("first", 1000, status="processor_declined", order="pay_x-1"),
            psp("second", 1000, order="pay_x-2"),
            psp("stranger", 1000, status="gateway_rejected"),
        ],
    )
    assert report.differences == ()
    assert (report.matched, report.no_money, report.psp_rows) == (1, 2, 3)


def test_a_second_charge_of_one_of_our_payments_names_the_payment() -> None:
    report = reconcile_day(
        DAY,
        [ours("first", 1000, payment="pay_x")],
        [psp("first", 1000, order="pay_x-1"), psp("again", 1000, order="pay_x-2")],
    )
    (diff,) = report.differences
    assert (diff.kind, diff.psp_id, diff.payment_id) == (K.MISSING_IN_LEDGER, "again", "pay_x")


def test_rows_near_midnight_match_by_id_and_count_on_the_psps_day_only() -> None:
    start, end = day_bounds(DAY)
    late_ours = ours("late", 1000, at=end - timedelta(seconds=30))  # ours: 23:59:30
    late_psp = psp("late", 1000, at=end + timedelta(seconds=20))  # PSP: 00:00:20 next day
    early_ours = ours("early", 700, at=start - timedelta(minutes=3))  # ours: the day before
    early_psp = psp("early", 700, at=start + timedelta(seconds=5))
    report = reconcile_day(DAY, [late_ours, early_ours], [late_psp, early_psp])
    assert report.differences == ()
    assert (report.psp_rows, report.ledger_rows, report.matched) == (1, 1, 1)
    assert report.totals[0].sales_minor == 700
    # The next day reports "late", and nothing about "early".
    next_day = reconcile_day(DAY + timedelta(days=1), [late_ours, early_ours], [late_psp])
    assert (next_day.matched, next_day.differences) == (1, ())


def test_our_unmatched_row_outside_the_day_is_not_reported() -> None:
    _, end = day_bounds(DAY)
    report = reconcile_day(DAY, [ours("tomorrow", at=end + timedelta(minutes=5))], [])
    assert report.differences == ()
    assert report.ledger_rows == 0


def test_a_row_found_later_by_lookup_is_no_longer_missing() -> None:
    _, end = day_bounds(DAY)
    matcher = DayMatcher(DAY, [ours("slow", at=NOON), ours("gone", at=NOON)])
    matcher.feed([])
    assert sorted(r.psp_id for r in matcher.unmatched_ledger()) == ["gone", "slow"]
    matcher.feed([psp("slow", at=end + timedelta(hours=3))])  # what find() returned
    report = matcher.finish()
    assert kinds(report) == [("missing_at_psp", "gone")]


def test_a_repeated_search_page_changes_nothing() -> None:
    rows = [psp("a"), psp("b", 2000), psp("x", 5, status="settled")]
    once = reconcile_day(DAY, [ours("a"), ours("b", 2000)], rows)
    matcher = DayMatcher(DAY, [ours("a"), ours("b", 2000)])
    matcher.feed(rows)
    matcher.feed(rows[1:])
    assert matcher.finish() == once


@pytest.mark.parametrize(
    ("order_id", "payment"),
    [("pay_abc-1", "pay_abc"), ("pay_a-b-12", "pay_a-b"), ("pay_abc", None), ("-1", None)],
)
def test_order_ids(order_id: str, payment: str | None) -> None:
    assert payment_id_from_order_id(order_id) == payment


# ------------------------------------------------------------------ properties
STATUSES = ("authorized", "submitted_for_settlement", "settled")  # all money-moving
PLANTS = ("none", "drop_ours", "drop_psp", "amount", "currency", "void")

rows_strategy = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=10**9),
        st.sampled_from(STATUSES),
        st.sampled_from(("USD", "GBP", "JPY")),
        st.sampled_from(PLANTS),
        st.integers(min_value=-3600, max_value=3600),  # seconds the PSP stamps after us
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(rows=rows_strategy, shuffle=st.randoms(use_true_random=False))
def test_planted_differences_are_reported_exactly(
    rows: list[tuple[int, str, str, str, int]], shuffle: object
) -> None:
    """Whatever is planted is reported, once, with the right kind; everything else
    matches and adds up to the totals."""
    ledger: list[LedgerRecord] = []
    txns: list[PspRecord] = []
    expected: set[tuple[str, str]] = set()
    clean_minor: dict[str, int] = {}
    clean_count = 0
    start, end = day_bounds(DAY)
    for i, (minor, status, currency, plant, skew) in enumerate(rows):
        psp_id = f"t{i}"
        ours_at = start + timedelta(seconds=(i * 7919) % 86400)
        psp_at = ours_at + timedelta(seconds=skew)
        mine = ours(psp_id, minor, status=status, currency=currency, at=ours_at)
        theirs = psp(psp_id, minor, status=status, currency=currency, at=psp_at)
        in_day = start <= psp_at < end
        if plant == "drop_ours":
            txns.append(theirs)
            if in_day:
                expected.add(("missing_in_ledger", psp_id))
            continue
        if plant == "drop_psp":
            ledger.append(mine)
            if start <= ours_at < end:
                expected.add(("missing_at_psp", psp_id))
            continue
        if plant == "amount":
            theirs = theirs._replace(amount_minor=minor + 1)
        elif plant == "currency":
            theirs = theirs._replace(currency="EUR")
        elif plant == "void":
            theirs = theirs._replace(status="voided")
        ledger.append(mine)
        txns.append(theirs)
        if not in_day:
            continue
        if plant == "none":
            clean_count += 1
            clean_minor[currency] = clean_minor.get(currency, 0) + minor
        else:
            label = {"amount": "amount_mismatch", "currency": "currency_mismatch"}
            expected.add((label.get(plant, "status_mismatch"), psp_id))
    shuffle.shuffle(txns)  # type: ignore[attr-defined]
    report = reconcile_day(DAY, ledger, txns)
    assert set(kinds(report)) == expected
    assert len(report.differences) == len(expected)
    assert report.matched == clean_count
    assert {t.currency: t.sales_minor for t in report.totals} == clean_minor
    assert sum(t.sales_count for t in report.totals) == clean_count


# ---- chargebacks
def their_dispute(
    dispute_id: str,
    minor: int | None = 6000,
    *,
    status: str = "open",
    kind: str = "chargeback",
    received: date | None = DAY,
    changed: date | None = DAY,
    payment: str = "",
) -> PspDisputeRecord:
    return PspDisputeRecord(
        dispute_id, kind, status, minor, "USD", f"txn_{dispute_id}", payment, received, changed
    )


def our_dispute(
    dispute_id: str,
    minor: int | None = 6000,
    *,
    status: str = "open",
    booked: int = 0,
    kind: str = "chargeback",
    opened: date = DAY,
    changed: date = DAY,
) -> LedgerDisputeRecord:
    return LedgerDisputeRecord(
        dispute_id, f"pay_{dispute_id}", kind, status, minor, "USD", booked, opened, changed
    )


def dispute_day(
    ledger: list[LedgerDisputeRecord], psp_side: list[PspDisputeRecord], day: date = DAY
) -> object:
    matcher = DayMatcher(day, [], ledger)
    matcher.feed_disputes(psp_side)
    return matcher.finish()


def test_disputes_that_agree_on_amount_and_booking_match_whatever_their_open_status() -> None:
    report = dispute_day(
        [
            our_dispute("d_open"),
            our_dispute("d_lost", status="lost", booked=6000),
            # We still say open; the PSP has it under review: no money moved either way.
            our_dispute("d_review"),
            our_dispute("d_won", status="won"),
            our_dispute("d_retrieval", kind="retrieval", status="accepted"),
        ],
        [
            their_dispute("d_open"),
            their_dispute("d_lost", status="lost"),
            their_dispute("d_review", status="under_review"),
            their_dispute("d_won", status="won"),
            their_dispute("d_retrieval", kind="retrieval", status="accepted"),
        ],
    )
    assert kinds(report) == []
    assert (report.psp_disputes, report.ledger_disputes, report.disputes_matched) == (5, 5, 5)  # type: ignore[attr-defined]


@pytest.mark.parametrize("gone", sorted(DISPUTE_MONEY_GONE))
def test_money_gone_at_the_psp_but_no_chargeback_booked_is_a_status_mismatch(gone: str) -> None:
    report = dispute_day([our_dispute("d1")], [their_dispute("d1", status=gone)])
    (diff,) = report.differences  # type: ignore[attr-defined]
    assert (diff.kind, diff.txn_kind, diff.payment_id) == (K.STATUS_MISMATCH, "dispute", "pay_d1")
    assert diff.ours == "chargeback open, no chargeback booked"
    assert diff.theirs == f"60.00 USD chargeback {gone}"
    assert diff.case_subject == "psp-dispute:d1"
    assert chargeback_due("chargeback", gone) and not chargeback_due("retrieval", gone)


def test_a_chargeback_booked_for_a_dispute_the_psp_says_won_is_a_status_mismatch() -> None:
    report = dispute_day(
        [our_dispute("d1", status="lost", booked=6000)], [their_dispute("d1", status="won")]
    )
    (diff,) = report.differences  # type: ignore[attr-defined]
    assert diff.kind is K.STATUS_MISMATCH
    assert diff.ours == "chargeback lost, 60.00 USD charged back"
    assert diff.theirs == "60.00 USD chargeback won"


def test_other_disputed_or_booked_amounts_are_amount_mismatches_once() -> None:
    report = dispute_day(
        [
            our_dispute("d_amount", 5000),
            our_dispute("d_booked", status="lost", booked=5000),
            # Both the amount and the booking differ: one case per kind, not two.
            our_dispute("d_both", 5000, status="lost", booked=5000),
        ],
        [
            their_dispute("d_amount"),
            their_dispute("d_booked", status="lost"),
            their_dispute("d_both", status="lost"),
        ],
    )
    assert kinds(report) == [
        ("amount_mismatch", "d_amount"),
        ("amount_mismatch", "d_booked"),
        ("amount_mismatch", "d_both"),
    ]
    lines = {d.psp_id: d for d in report.differences}  # type: ignore[attr-defined]
    assert (lines["d_amount"].ours, lines["d_amount"].theirs) == ("50.00 USD", "60.00 USD")
    assert lines["d_booked"].ours == "chargeback lost, 50.00 USD charged back"


def test_a_dispute_only_at_the_psp_or_only_with_us_is_missing_on_the_other_side() -> None:
    matcher = DayMatcher(DAY, [], [our_dispute("ours_only"), our_dispute("late_at_psp")])
    matcher.feed_disputes(
        [their_dispute("theirs_only", 2500, payment="pay_x"), their_dispute("theirs_only")]
    )
    # The caller looks up what the search did not bring, and feeds what it finds.
    assert [r.psp_id for r in matcher.unmatched_disputes()] == ["ours_only", "late_at_psp"]
    later = DAY + timedelta(days=3)  # the PSP dates it later: matched, reported then
    matcher.feed_disputes([their_dispute("late_at_psp", received=later, changed=later)])
    report = matcher.finish()
    assert kinds(report) == [("missing_at_psp", "ours_only"), ("missing_in_ledger", "theirs_only")]
    lines = {d.kind: d for d in report.differences}
    assert lines[K.MISSING_IN_LEDGER].payment_id == "pay_x"  # repeated row ignored
    assert lines[K.MISSING_IN_LEDGER].theirs == "25.00 USD chargeback open"
    assert lines[K.MISSING_AT_PSP].ours == "60.00 USD chargeback open"
    assert (report.psp_disputes, report.ledger_disputes) == (1, 1)


def test_a_dispute_belongs_to_the_day_received_and_the_day_of_its_latest_change() -> None:
    before, after = DAY - timedelta(days=1), DAY + timedelta(days=1)
    psp_side = [
        their_dispute("received_today", received=DAY, changed=DAY),
        their_dispute("received_yesterday", received=before, changed=before, status="lost"),
        their_dispute("lost_today", received=before - timedelta(days=30), status="lost"),
        their_dispute("received_tomorrow", received=after, changed=after),
        their_dispute("undated", received=None, changed=None),
    ]
    # None of these is ours: every dispute of the day is reported, the others are not.
    assert kinds(dispute_day([], psp_side)) == [
        ("missing_in_ledger", "lost_today"),
        ("missing_in_ledger", "received_today"),
        ("missing_in_ledger", "undated"),
    ]
    # Ours stamped 23:59 yesterday, the PSP's received today: matched on both days,
    # reported (and counted) on the PSP's day only, never as missing on ours.
    ours_late = [our_dispute("received_today", 5000, opened=before, changed=before)]
    yesterday = dispute_day(ours_late, psp_side[:1], day=before)
    assert kinds(yesterday) == []
    assert yesterday.psp_disputes == 0  # type: ignore[attr-defined]
    assert kinds(dispute_day(ours_late, psp_side[:1])) == [("amount_mismatch", "received_today")]


def test_a_dispute_id_equal_to_a_transaction_id_opens_its_own_case() -> None:
    matcher = DayMatcher(DAY, [], [])
    matcher.feed([psp("same_id")])
    matcher.feed_disputes([their_dispute("same_id")])
    subjects = sorted(d.case_subject for d in matcher.finish().differences)
    assert subjects == ["psp-dispute:same_id", "psp:same_id"]
