"""Search text against a customer (id in any case, name by its words), and phone
numbers as people type them."""

from __future__ import annotations

import pytest

from crm_pay.domain.customer_search import matches_customer
from crm_pay.domain.phone import looks_like_phone, normalize_phone


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("cust-0001", True),
        ("CUST-0001", True),
        ("Whitfield", True),
        ("ele whit", True),
        ("whitfield garden", True),  # the company
        ("field", False),  # words start where the name's words start
        ("Eleanor Rivera", False),
        ("", False),
        ("cust-000", False),
    ],
)
def test_matches_customer(text: str, found: bool) -> None:
    assert (
        matches_customer(
            text, crm_ref="CUST-0001", name="Eleanor Whitfield", company="Whitfield Garden Supply"
        )
        is found
    )


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("(212) 555-0101", "+12125550101"),
        ("+1 212-555-0101", "+12125550101"),
        ("212.555.0101", "+12125550101"),
        ("1 212 555 0101", "+12125550101"),
        ("555-0101", None),
        ("ext 12", None),
    ],
)
def test_phone_numbers_as_typed(typed: str, e164: str | None) -> None:
    assert normalize_phone(typed) == e164


def test_looks_like_phone() -> None:
    assert looks_like_phone("(212) 555-0101")
    assert not looks_like_phone("Rivera") and not looks_like_phone("CUST-0001")
