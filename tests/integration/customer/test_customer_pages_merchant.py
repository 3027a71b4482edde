"""The customer's pages name the merchant and how to reach them, and give times in the
merchant's time zone (``CRM_PAY_MERCHANT_TIME_ZONE``), not in UTC."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crm_pay import create_app
from crm_pay.config import CrmPayConfig
from crm_pay.current import get_context
from crm_pay.domain.errors import ConfigurationError
from crm_pay.services import portal
from paytest import create_link, paid, pay, token_of


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {
        "CRM_PAY_MERCHANT_NAME": "Harbour Water Ltd",
        "CRM_PAY_MERCHANT_PHONE": "+44 20 7946 0000",
        "CRM_PAY_MERCHANT_EMAIL": "help@harbour-water.example",
        "CRM_PAY_MERCHANT_TIME_ZONE": "America/New_York",
    }


def _footer(html: str) -> str:
    found = re.search(r"<footer>(.*?)</footer>", html, re.S)
    assert found, html
    return found.group(1)


def test_a_closed_link_says_whose_page_it_is_and_whom_to_call(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    _, created = create_link(client, auth, amount="12.00")
    assert pay(client, created["pay_url"]).status_code == 200
    used = client.get(f"/pay/p/{token_of(created['pay_url'])}")  # paid: the link is closed
    unknown = client.get("/pay/p/not-a-link-we-made")
    for page in (used, unknown):
        footer = _footer(page.get_data(as_text=True))
        assert "Harbour Water Ltd" in footer
        assert 'href="tel:+44 20 7946 0000"' in footer
        assert 'href="mailto:help@harbour-water.example"' in footer


def test_the_receipts_portal_gives_the_merchants_local_time(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    payment = paid(client, auth, "30.00")
    number = payment["receipt_number"]
    link = portal.receipt_link(get_context(app), "CUST-0001", number)
    html = client.get(urlsplit(link).path).get_data(as_text=True)
    row = re.search(rf'<tr[^>]*data-receipt="{number}".*?</tr>', html, re.S)
    assert row, html
    # New York is UTC-5 (EST) or UTC-4 (EDT); the page never says UTC
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d E[SD]T", row.group(0)), row.group(0)
    assert "UTC" not in row.group(0)
    assert "help@harbour-water.example" in _footer(html)


def test_host_pages_do_not_get_the_merchant_footer(app: Flask) -> None:
    from flask import render_template_string

    @app.get("/host-page")
    def host_page() -> str:
        return render_template_string("[{{ merchant_contact }}]")

    assert app.test_client().get("/host-page").get_data(as_text=True) == "[]"


def test_an_unknown_time_zone_is_refused_at_start_with_how_to_fix_it() -> None:
    with pytest.raises(ConfigurationError, match="IANA name such as Europe/London"):
        CrmPayConfig.from_mapping({"CRM_PAY_MERCHANT_TIME_ZONE": "Mars/Olympus_Mons"})
    with pytest.raises(ConfigurationError, match="CRM_PAY_MERCHANT_TIME_ZONE"):
        create_app({"CRM_PAY_MERCHANT_TIME_ZONE": "../etc/passwd"})
