"""Optional PSP capabilities are found behind the wiring code's lazy proxy."""

from __future__ import annotations

from datetime import date

from crm_pay.bootstrap import LazyAdapter
from crm_pay.domain.money import Money
from crm_pay.ports import SettlementBatchLine, SettlementSummaries, capability


class _WithSummaries:
    def settlement_summary(self, day: date) -> list[SettlementBatchLine]:
        return [SettlementBatchLine("acct", "Visa", "sale", 1, Money(100, "USD"))]


class _Without:
    pass


def test_a_capability_is_found_through_the_lazy_proxy() -> None:
    proxy = LazyAdapter(_WithSummaries)
    found = capability(proxy, SettlementSummaries)
    assert isinstance(found, _WithSummaries)
    assert found.settlement_summary(date(2026, 1, 1))[0].count == 1


def test_a_missing_capability_is_none_with_or_without_the_proxy() -> None:
    assert capability(LazyAdapter(_Without), SettlementSummaries) is None
    assert capability(_Without(), SettlementSummaries) is None
    assert isinstance(capability(_WithSummaries(), SettlementSummaries), _WithSummaries)
