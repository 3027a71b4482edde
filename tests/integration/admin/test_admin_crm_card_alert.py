"""A card number found in CRM data is an alert on the admin overview, naming the record
and the field and never the number (only Braintree's test Visa is used)."""

from __future__ import annotations

import dataclasses

from flask.testing import FlaskClient

from crm_pay.services.context import Context
from vault.pan import contains_pan


def test_a_card_number_in_a_crm_name_shows_as_an_alert_without_the_number(
    admin: FlaskClient, client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    crm = ctx.crm.wrapped_adapter  # type: ignore[attr-defined]  # the builtin CRM's test hooks
    original = crm.find_customer("CUST-0002")
    crm.add_customer(dataclasses.replace(original, name="Bo 4111-1111-1111-1111 Ray"))
    shown = client.get("/pay/api/v1/customers/CUST-0002", headers=auth).get_json()
    assert shown["name"] == "Bo [REDACTED PAN] Ray"
    client.get("/pay/api/v1/customers/CUST-0002", headers=auth)  # read twice: one alert

    page = admin.get("/pay/admin/").get_data(as_text=True)
    assert 'id="alerts"' in page
    assert page.count('data-kind="crm_data_card_number"') == 1
    assert "customer CUST-0002 (field name)" in page and "it was redacted" in page
    assert not contains_pan(page)

    # Once the CRM record is clean, the stored copy follows at the next read.
    crm.add_customer(original)
    assert client.get("/pay/api/v1/customers/CUST-0002", headers=auth).get_json()["name"] == (
        original.name
    )
