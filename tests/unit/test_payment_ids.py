"""Payment ids must never look like card numbers (they travel in logs and CRM payloads)."""

from __future__ import annotations

from crm_pay.services.payment_records import new_payment_id
from vault.pan import find_pans


def test_payment_ids_never_trip_the_card_number_detector() -> None:
    ids = [new_payment_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 28 and i.startswith("pay_") for i in ids)
    assert not [i for i in ids if find_pans(i)]
