"""The builtin CRM's search by id (any case) and by name: the console's search box."""

from __future__ import annotations

from connectors.crm.builtin import BuiltinCrm
from crm_pay.ports import CrmTextSearch, capability


def test_builtin_crm_finds_by_id_in_any_case_and_by_surname() -> None:
    crm = BuiltinCrm()
    assert [c.crm_ref for c in crm.find_customers_by_text("cust-0002")] == ["CUST-0002"]
    assert [c.crm_ref for c in crm.find_customers_by_text("Raman")] == ["CUST-0003", "CUST-0004"]
    assert [c.crm_ref for c in crm.find_customers_by_text("raman", limit=1)] == ["CUST-0003"]
    assert crm.find_customers_by_text("Nobody") == []
    assert capability(crm, CrmTextSearch) is crm
