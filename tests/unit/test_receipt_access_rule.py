"""Who may see a receipt: its payment's creator, supervisors and admins."""

from __future__ import annotations

import pytest

from crm_pay.services.access import Principal, may_view_receipt

AGENT = Principal("user", 7, "agent@example.com", "agent")


@pytest.mark.parametrize(
    ("principal", "created_by", "allowed"),
    [
        (AGENT, "user:7:agent@example.com", True),
        (AGENT, "user:7:renamed@example.com", True),  # identity is kind and id
        (AGENT, "user:8:agent2@example.com", False),
        (AGENT, "user:70:someone@example.com", False),  # not a prefix match on the id
        (AGENT, "api_key:7:tests", False),  # same id, other kind
        (Principal("api_key", 3, "crm", "agent"), "api_key:3:crm", True),
        (Principal("api_key", 3, "crm", "agent"), "user:3:x@example.com", False),
        (Principal("user", 9, "sup@example.com", "supervisor"), "user:7:a@example.com", True),
        (Principal("api_key", 4, "admin", "admin"), "system", True),
        (AGENT, "system", False),
        (AGENT, "", False),
    ],
)
def test_may_view_receipt(principal: Principal, created_by: str, allowed: bool) -> None:
    assert may_view_receipt(principal, created_by) is allowed
