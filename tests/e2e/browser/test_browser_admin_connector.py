"""The admin's connector form in a real browser: a typo in a HubSpot mapping key is
refused on Save with the key named and the right one suggested, nothing is saved, and
the typed secret is not sent back (screenshot for docs/admin-guide.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import NO_MFA, DemoServer, sign_in

pytestmark = pytest.mark.browser

ADMIN = ("admin@example.com", "demo-admin-pass")
TOKEN = "pat-na1-browser-test-token-0001"


@pytest.fixture(scope="module")
def admin_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("admin-connector"), env=NO_MFA).start()
    yield server
    server.stop()


def test_a_mapping_typo_is_refused_on_save(
    admin_demo: DemoServer, agent_context: Any, shoot: Callable[[Any, str], Path]
) -> None:
    page = agent_context.new_page()
    sign_in(page, admin_demo.base, "/pay/admin/connectors/new?kind=hubspot", ADMIN)
    page.fill("#name", "hubspot-prod")
    page.fill("#setting-auth", "private_app")
    page.fill("#secret-access_token", TOKEN)
    key = page.locator('input[name="map_key"][value="balance_property"]')
    key.fill("balance_propety")
    page.click("#save")
    error = page.locator("#form-error")
    error.wait_for()
    text = error.inner_text()
    assert "balance_propety (did you mean balance_property?)" in text
    assert page.locator("#secret-access_token").input_value() == ""
    assert TOKEN not in page.content()
    # What the admin typed is still there to correct.
    assert page.locator('input[name="map_key"][value="balance_propety"]').count() == 1
    error.scroll_into_view_if_needed()
    shoot(page, "admin-connector-refused-mapping")
    page.goto(f"{admin_demo.base}/pay/admin/")
    assert "hubspot-prod" not in page.content()
