"""Admin connector checks: a typo in a mapping or an invalid setting is refused on Save
with the field named; Enable needs a passing Test connection of the settings in force, or
an override whose reason is audited; version history says what changed (credentials
masked); dead letters show the CRM's answer as short readable text, once."""

from __future__ import annotations

import html
import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from crm_pay.domain.errors import CrmPayError
from crm_pay.domain.plain_text import masked_setting, readable_error
from crm_pay.persistence.models import AuditEntry, CrmConnectorTest, OutboxMessage
from crm_pay.ports import ConnectionReport
from crm_pay.services import crm_settings, outbox
from crm_pay.services.connector_history import connector_history
from crm_pay.services.context import Context
from crm_pay.services.crm_settings import ConnectorKind
from paytest import csrf_of

TOKEN = "pat-na1-5c4f0a2e-test-token-0001"


def _post_form(client: FlaskClient, url: str, data: dict[str, Any]) -> Any:
    page = client.get(url)
    return client.post(url, data={"csrf_token": csrf_of(page.text), **data})


def _hubspot_form(admin: FlaskClient, **mapping: str) -> dict[str, Any]:
    """What the new-HubSpot form shows (its default mapping), with ``mapping`` changed."""
    page = admin.get("/pay/admin/connectors/new?kind=hubspot")
    keys = re.findall(r'name="map_key" value="([^"]*)"', page.text)
    values = re.findall(r'name="map_value" value="([^"]*)"', page.text)
    rows = dict(zip(keys, values, strict=False))
    rows.pop("", None)
    rows.update(mapping)
    return {
        "name": "hs",
        "setting-auth": "private_app",
        "secret-access_token": TOKEN,
        "map_key": list(rows),
        "map_value": list(rows.values()),
    }


def _error_of(page: str) -> str:
    found = re.search(r'id="form-error">([^<]*)<', page)
    assert found, page
    return html.unescape(found.group(1))


def test_a_typo_in_a_hubspot_mapping_key_is_refused_with_the_key_named(
    admin: FlaskClient, ctx: Context
) -> None:
    data = _hubspot_form(admin)
    data["map_key"] = [k.replace("balance_property", "balance_propety") for k in data["map_key"]]
    resp = _post_form(admin, "/pay/admin/connectors/new?kind=hubspot", data)
    assert resp.status_code == 422
    error = _error_of(resp.text)
    assert "balance_propety (did you mean balance_property?)" in error
    assert crm_settings.list_connectors(ctx) == []  # nothing saved
    assert TOKEN not in resp.text  # the typed secret is not sent back


def test_an_invalid_hubspot_property_name_or_auth_value_is_refused(
    admin: FlaskClient, ctx: Context
) -> None:
    bad_value = _hubspot_form(admin, balance_property="Balance Due!")
    resp = _post_form(admin, "/pay/admin/connectors/new?kind=hubspot", bad_value)
    assert resp.status_code == 422 and "'balance_property'" in _error_of(resp.text)
    bad_auth = {**_hubspot_form(admin), "setting-auth": "privat_app"}
    resp = _post_form(admin, "/pay/admin/connectors/new?kind=hubspot", bad_auth)
    assert resp.status_code == 422
    error = _error_of(resp.text)
    assert "'auth'" in error and "private_app" in error and "oauth" in error
    assert crm_settings.list_connectors(ctx) == []
    # The same form with the right values saves.
    assert _post_form(admin, "/pay/admin/connectors/new?kind=hubspot", _hubspot_form(admin))
    assert [c["name"] for c in crm_settings.list_connectors(ctx)] == ["hs"]


def test_an_edit_that_breaks_a_saved_connector_keeps_the_version_in_force(
    admin: FlaskClient, ctx: Context
) -> None:
    assert _post_form(admin, "/pay/admin/connectors/new?kind=hubspot", _hubspot_form(admin))
    before = crm_settings.connector_view(ctx, "hs")
    edit = _hubspot_form(admin, payment_objet="p_payments")
    del edit["name"], edit["secret-access_token"]
    resp = _post_form(admin, "/pay/admin/connectors/hs", edit)
    assert resp.status_code == 422
    assert "payment_objet (did you mean payment_object?)" in _error_of(resp.text)
    assert crm_settings.connector_view(ctx, "hs") == before


def test_enum_and_number_settings_of_other_connectors_are_checked(
    ctx: Context,
) -> None:
    salesforce = {"login_url": "https://login.salesforce.com", "client_id": "3MVG9-consumer"}
    try:
        crm_settings.save_connector(
            ctx,
            name="sf",
            kind="salesforce",
            settings={**salesforce, "auth_flow": "password", "api_version": "v60.0"},
            secrets={"client_secret": "s3cret-value-0001"},
            actor="admin",
        )
    except Exception as exc:  # noqa: BLE001 - the message is what we check
        message = str(exc)
    else:
        raise AssertionError("an auth_flow outside its choices was saved")
    assert "'auth_flow'" in message and "jwt_bearer, client_credentials" in message
    dynamics = {
        "tenant_id": "contoso.onmicrosoft.com",
        "client_id": "00000000-0000-0000-0000-000000000001",
        "org_url": "https://contoso.crm.dynamics.com",
        "timeout": "thirty",
    }
    try:
        crm_settings.save_connector(
            ctx,
            name="dyn",
            kind="dynamics",
            settings=dynamics,
            secrets={"client_secret": "s3cret-value-0001"},
            actor="admin",
        )
    except Exception as exc:  # noqa: BLE001
        message = str(exc)
    else:
        raise AssertionError("a timeout that is not a number was saved")
    assert "timeout must be a number of seconds" in message
    assert crm_settings.list_connectors(ctx) == []


def _new_builtin(admin: FlaskClient, ctx: Context, path: str) -> None:
    ctx.crm.find_customer("CUST-0001")  # the demo CRM writes its data file on first use
    resp = _post_form(
        admin, "/pay/admin/connectors/new?kind=builtin", {"name": "demo", "setting-path": path}
    )
    assert resp.status_code == 302


def _audit(ctx: Context, action: str) -> list[AuditEntry]:
    with ctx.db.transaction() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))
        s.expunge_all()
        return rows


def test_enable_needs_a_passing_test_of_the_settings_in_force(
    admin: FlaskClient, ctx: Context, app: Any
) -> None:
    _new_builtin(admin, ctx, app.config["CRM_PAY_BUILTIN_CRM_PATH"])
    page = admin.get("/pay/admin/connectors/demo")
    token = csrf_of(page.text)
    assert 'id="enable-needs-test"' in page.text and 'id="enable"' not in page.text
    refused = admin.post("/pay/admin/connectors/demo/enable", data={"csrf_token": token})
    assert refused.status_code == 302
    page = admin.get("/pay/admin/connectors/demo").text
    assert "was not enabled" in page and "Test connection first" in page
    assert crm_settings.connector_view(ctx, "demo")["enabled"] is False

    admin.post("/pay/admin/connectors/demo/test", data={"csrf_token": token})
    page = admin.get("/pay/admin/connectors/demo").text
    assert 'id="enable"' in page and 'id="enable-needs-test"' not in page
    # A save after the test: the answer was for the settings before.
    resp = _post_form(
        admin,
        "/pay/admin/connectors/demo",
        {"setting-path": app.config["CRM_PAY_BUILTIN_CRM_PATH"] + ".copy"},
    )
    assert resp.status_code == 302
    admin.post("/pay/admin/connectors/demo/enable", data={"csrf_token": token})
    assert crm_settings.connector_view(ctx, "demo")["enabled"] is False
    _post_form(
        admin,
        "/pay/admin/connectors/demo",
        {"setting-path": app.config["CRM_PAY_BUILTIN_CRM_PATH"]},
    )
    admin.post("/pay/admin/connectors/demo/test", data={"csrf_token": token})
    admin.post("/pay/admin/connectors/demo/enable", data={"csrf_token": token})
    page = admin.get("/pay/admin/connectors/demo").text
    assert "Connector demo enabled" in page
    assert crm_settings.connector_view(ctx, "demo")["enabled"] is True
    assert _audit(ctx, "connector.enable_override") == []
    # Each test is kept with the version it ran on.
    with ctx.db.transaction() as s:
        tests = s.execute(select(CrmConnectorTest.version, CrmConnectorTest.ok)).all()
    assert [tuple(t) for t in tests] == [(1, True), (3, True)]


def test_enable_without_a_test_needs_a_reason_and_is_audited(
    admin: FlaskClient, ctx: Context, app: Any
) -> None:
    _new_builtin(admin, ctx, app.config["CRM_PAY_BUILTIN_CRM_PATH"])
    token = csrf_of(admin.get("/pay/admin/connectors/demo").text)
    short = admin.post(
        "/pay/admin/connectors/demo/enable", data={"csrf_token": token, "override_reason": "  ok "}
    )
    assert short.status_code == 302
    page = admin.get("/pay/admin/connectors/demo").text
    assert "at least 10 characters" in page
    assert crm_settings.connector_view(ctx, "demo")["enabled"] is False
    reason = "CRM vendor outage; test endpoint down, writes work (ticket 4411)"
    admin.post(
        "/pay/admin/connectors/demo/enable", data={"csrf_token": token, "override_reason": reason}
    )
    page = admin.get("/pay/admin/connectors/demo").text
    assert "Enabled without a passing test" in page
    assert crm_settings.connector_view(ctx, "demo")["enabled"] is True
    (entry,) = _audit(ctx, "connector.enable_override")
    assert entry.data["reason"] == reason and entry.subject == "connector:demo"
    assert entry.actor.endswith("admin@example.com")


def test_version_history_shows_what_changed_with_credentials_masked(
    admin: FlaskClient, ctx: Context
) -> None:
    assert _post_form(admin, "/pay/admin/connectors/new?kind=hubspot", _hubspot_form(admin))
    edit = _hubspot_form(admin, balance_property="amount_due")
    del edit["name"]
    edit["setting-base_url"] = ""
    edit["setting-default_currency"] = "EUR"
    edit["secret-access_token"] = TOKEN + "-rotated"
    assert _post_form(admin, "/pay/admin/connectors/hs", edit).status_code == 302
    history = connector_history(ctx, "hs")
    changes = {c["field"]: c for c in history[0]["changes"]}
    assert changes["mapping balance_property"] == {
        "field": "mapping balance_property",
        "before": "crm_pay_balance",
        "after": "amount_due",
    }
    assert changes["setting default_currency"]["after"] == "EUR"
    assert changes["secrets"]["after"] == "changed (never shown)"
    page = admin.get("/pay/admin/connectors/hs").text
    table = page.split('id="history"')[1]
    assert "mapping balance_property" in table and "amount_due" in table
    assert TOKEN not in page
    # The first version lists everything it set; what looks like a credential is dotted.
    assert masked_setting("client_secret", "abc") == "••••••"
    assert (
        masked_setting("url", "https://hook:pa55word@hooks.example/in")
        == "https://hook:••••••@hooks.example/in"
    )
    assert masked_setting("default_currency", "EUR") == "EUR"


HTML_500 = (
    "<!DOCTYPE html><html><head><title>500 Internal Server Error</title>"
    "<style>body{font:12px sans-serif}</style></head><body><h1>Internal Server Error</h1>"
    "<p>The server encountered an internal error and was unable to complete your "
    "request.</p><script>track()</script></body></html>"
)


def test_a_dead_letter_with_an_html_error_page_reads_as_short_text_once(
    admin: FlaskClient, ctx: Context
) -> None:
    with ctx.db.transaction() as s:
        msg_id = outbox.enqueue_now(
            s,
            topic="crm.upsert_payment",
            ordering_key="crm:CUST-0001",
            dedupe_key="crm.upsert_payment:test:html",
            payload={"payment_id": "pay_1"},
            now=ctx.now(),
        )
        msg = s.get(OutboxMessage, msg_id)
        assert msg is not None
        # What the dispatcher stores: our error (with the body) and the CRM's answer.
        msg.status, msg.attempts = "dead", 10
        msg.last_error = f"CrmWriteError: HTTP 500: {HTML_500} | CRM said: {HTML_500}"
    page = admin.get("/pay/admin/sync").text
    cell = re.search(r'<td class="crm-error">([^<]*)</td>', page)
    assert cell, page
    text = cell.group(1)
    assert "<" not in text and "&lt;" not in text and "track()" not in text
    assert "font:12px" not in text
    assert text.count("unable to complete your request") == 1
    assert text.startswith("CrmWriteError: HTTP 500: Internal Server Error")


def test_readable_error_shortens_and_keeps_plain_messages() -> None:
    assert readable_error(None) is None
    plain = "FIELD_CUSTOM_VALIDATION_EXCEPTION: Amount__c too large"
    assert readable_error(plain) == plain
    assert readable_error(f"CrmWriteError: {plain} | CRM said: {plain}") == (
        f"CrmWriteError: {plain}"
    )
    long = readable_error("x " * 1000)
    assert long is not None and len(long) == 300 and long.endswith("…")


TEST_PAN = "4111111111111111"  # Braintree test Visa


class _ChattyCrm:
    """A CRM whose test answer quotes a card number (a record it found, say)."""

    name = "chatty"

    def test_connection(self) -> ConnectionReport:
        return ConnectionReport(False, (("records", False, f"found card {TEST_PAN} on file"),))


def test_no_card_number_reaches_the_tests_the_audit_log_or_the_history(
    admin: FlaskClient, ctx: Context
) -> None:
    ctx.crm_kinds = {
        **ctx.crm_kinds,
        "chatty": ConnectorKind(
            kind="chatty",
            label="Chatty CRM",
            factory=lambda st, se, mp: _ChattyCrm(),
            settings_fields=({"name": "note", "label": "Note", "required": False},),
        ),
    }
    try:
        crm_settings.save_connector(
            ctx, name="chat", kind="chatty", settings={"note": TEST_PAN}, actor="admin"
        )
    except CrmPayError as exc:
        assert exc.code == "card_number_in_setting" and TEST_PAN not in exc.message
    else:
        raise AssertionError("a card number was saved as a setting")
    crm_settings.save_connector(ctx, name="chat", kind="chatty", settings={}, actor="admin")
    crm_settings.test_connector(ctx, "chat", actor="admin")
    token = csrf_of(admin.get("/pay/admin/connectors/chat").text)
    admin.post(
        "/pay/admin/connectors/chat/enable",
        data={"csrf_token": token, "override_reason": f"customer card {TEST_PAN} works"},
    )
    assert crm_settings.connector_view(ctx, "chat")["enabled"] is False
    page = admin.get("/pay/admin/connectors/chat").text
    assert "looks like it holds a card number" in page
    with ctx.db.transaction() as s:
        stored = [str(t.checks) for t in s.scalars(select(CrmConnectorTest))] + [
            str(a.data) for a in s.scalars(select(AuditEntry))
        ]
    assert stored and not [t for t in stored if TEST_PAN in t]
    assert TEST_PAN not in page and TEST_PAN not in admin.get("/pay/admin/").text
