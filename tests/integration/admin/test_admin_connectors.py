"""Admin console: who may use it, connectors created and edited through the form, test
connection answers, enable/disable, version history, secrets never shown, CSRF."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crm_pay.ports import ConnectionReport
from crm_pay.services import crm_settings as connectors
from crm_pay.services.context import Context
from crm_pay.services.crm_settings import ConnectorKind
from paytest import csrf_of

SECRET = "Zq9-very-recognisable-secret-4471"


@dataclass
class FakeCrm:
    """A CRM whose test connection answers from the token it was given."""

    settings: dict[str, str]
    secrets: dict[str, str]
    name: str = "fake"

    def test_connection(self) -> ConnectionReport:
        if self.secrets.get("token") != SECRET:
            return ConnectionReport(
                False,
                (
                    ("authentication", False, "invalid_grant: authentication failure"),
                    ("object Payment__c", False, "not checked: sign-in failed first"),
                ),
            )
        return ConnectionReport(True, (("authentication", True, "authenticated as api@acme"),))


@pytest.fixture
def fake_kind(ctx: Context) -> None:
    def factory(settings: dict[str, str], secrets: dict[str, str], mapping: dict[str, str]) -> Any:
        return FakeCrm(dict(settings), dict(secrets))

    ctx.crm_kinds = {
        **ctx.crm_kinds,
        "fake": ConnectorKind(
            kind="fake",
            label="Fake CRM",
            factory=factory,
            settings_fields=(
                {
                    "name": "instance",
                    "label": "Instance URL",
                    "required": True,
                    "help": "https://…",
                },
            ),
            secret_fields=({"name": "token", "label": "API token", "required": True, "help": ""},),
            default_mapping={"payment_object": "Payment__c", "balance_field": "Balance__c"},
        ),
    }


def _post_form(client: FlaskClient, url: str, data: dict[str, Any]) -> Any:
    page = client.get(url)
    return client.post(url, data={"csrf_token": csrf_of(page.text), **data})


def _new_fake(client: FlaskClient, **extra: Any) -> Any:
    data = {
        "name": "acme",
        "setting-instance": "https://acme.example",
        "secret-token": SECRET,
        "map_key": ["payment_object", "balance_field"],
        "map_value": ["Payment__c", "Balance__c"],
        **extra,
    }
    return _post_form(client, "/pay/admin/connectors/new?kind=fake", data)


def test_admin_pages_need_the_admin_role(
    app: Flask, signed_in: Callable[[str], FlaskClient], fake_kind: None
) -> None:
    anonymous = app.test_client().get("/pay/admin/")
    assert anonymous.status_code == 302 and "/pay/agent/login" in anonymous.location
    for role in ("agent", "supervisor"):
        client = signed_in(role)
        token = csrf_of(client.get("/pay/agent/").text)
        for url in ("/pay/admin/", "/pay/admin/sync", "/pay/admin/connectors/new?kind=builtin"):
            resp = client.get(url)
            assert resp.status_code == 403 and "for admins" in resp.text
        resp = client.post(
            "/pay/admin/sync/replay-all", data={"csrf_token": token, "confirm": "yes"}
        )
        assert resp.status_code == 403
        post = client.post(
            "/pay/admin/connectors/new?kind=builtin", data={"csrf_token": token, "name": "x1"}
        )
        assert post.status_code == 403
    assert connectors.list_connectors(app.extensions["crm_pay"]) == []


def test_create_a_builtin_connector_and_test_it(
    admin: FlaskClient, ctx: Context, app: Flask
) -> None:
    overview = admin.get("/pay/admin/")
    assert overview.status_code == 200 and "No connector configured yet" in overview.text
    assert "/pay/admin/connectors/new?kind=builtin" in overview.text
    ctx.crm.find_customer("CUST-0001")  # the demo CRM writes its data file on first use
    resp = _post_form(
        admin,
        "/pay/admin/connectors/new?kind=builtin",
        {"name": "demo", "setting-path": app.config["CRM_PAY_BUILTIN_CRM_PATH"]},
    )
    assert resp.status_code == 302 and resp.location.endswith("/pay/admin/connectors/demo")
    page = admin.get("/pay/admin/connectors/demo")
    assert "Connector demo saved (version 1)" in page.text
    tested = admin.post("/pay/admin/connectors/demo/test", data={"csrf_token": csrf_of(page.text)})
    assert tested.status_code == 302
    page = admin.get("/pay/admin/connectors/demo")
    assert "Test connection passed" in page.text
    storage = re.search(r'data-check="storage" data-ok="yes">\s*<span[^>]*>✓</span>', page.text)
    assert storage, page.text
    assert "writable" in page.text and "customers" in page.text
    overview = admin.get("/pay/admin/").text
    assert 'data-connector="demo"' in overview and "passed" in overview and "v1" in overview


def test_a_failing_test_connection_shows_the_crms_precise_message(
    admin: FlaskClient, fake_kind: None
) -> None:
    assert _new_fake(admin, **{"secret-token": "wrong-token"}).status_code == 302
    page = admin.get("/pay/admin/connectors/acme")
    admin.post("/pay/admin/connectors/acme/test", data={"csrf_token": csrf_of(page.text)})
    page = admin.get("/pay/admin/connectors/acme")
    assert "Test connection failed" in page.text
    assert re.search(r'data-check="authentication" data-ok="no">\s*<span[^>]*>✗</span>', page.text)
    assert "invalid_grant: authentication failure" in page.text
    # The admin fixes the token; the same button now passes.
    form = {
        "setting-instance": "https://acme.example",
        "secret-token": SECRET,
        "map_key": "payment_object",
        "map_value": "Payment__c",
    }
    assert _post_form(admin, "/pay/admin/connectors/acme", form).status_code == 302
    page = admin.get("/pay/admin/connectors/acme")
    admin.post("/pay/admin/connectors/acme/test", data={"csrf_token": csrf_of(page.text)})
    page = admin.get("/pay/admin/connectors/acme").text
    assert "authenticated as api@acme" in page and "✓" in page


def test_secrets_show_as_set_and_never_appear_anywhere(
    admin: FlaskClient, ctx: Context, fake_kind: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    new = admin.get("/pay/admin/connectors/new?kind=fake").text
    assert 'data-secret="token">not set' in new and 'type="password"' in new
    assert _new_fake(admin).status_code == 302
    # Edit without re-typing the secret: it is kept, and the form says "set".
    resp = _post_form(
        admin, "/pay/admin/connectors/acme", {"setting-instance": "https://b.example"}
    )
    assert resp.status_code == 302
    view = connectors.connector_view(ctx, "acme")
    assert (
        view["secrets"] == {"token": "set"} and view["settings"]["instance"] == "https://b.example"
    )
    assert connectors.test_connector(ctx, "acme").ok  # the stored secret is still the same
    # A refused save with a freshly typed secret does not send it back either.
    refused = _post_form(
        admin,
        "/pay/admin/connectors/acme",
        {"setting-instance": "", "secret-token": SECRET + "-new"},
    )
    assert refused.status_code == 422 and SECRET not in refused.text
    assert "Secrets you typed were not saved" in refused.text
    page = admin.get("/pay/admin/connectors/acme")
    admin.post("/pay/admin/connectors/acme/test", data={"csrf_token": csrf_of(page.text)})
    pages = [
        admin.get(url)
        for url in (
            "/pay/admin/",
            "/pay/admin/connectors/acme",
            "/pay/admin/connectors/new?kind=fake",
            "/pay/admin/connectors/new?kind=builtin",
            "/pay/admin/sync",
            "/pay/admin/sync/replay-all",
        )
    ]
    assert all(p.status_code == 200 for p in pages)
    assert 'data-secret="token">set' in pages[1].text
    for p in [*pages, refused]:
        assert SECRET not in p.text
    assert SECRET not in caplog.text


def test_validation_errors_are_shown_next_to_the_form_and_values_kept(
    admin: FlaskClient, fake_kind: None
) -> None:
    resp = _new_fake(admin, **{"name": "Bad Name!", "setting-instance": "", "secret-token": ""})
    assert resp.status_code == 422
    assert "lower-case letters" in resp.text
    assert "Instance URL is required." in resp.text and "API token is required." in resp.text
    assert 'value="Payment__c"' in resp.text and 'value="Bad Name!"' in resp.text
    assert _new_fake(admin).status_code == 302
    again = _new_fake(admin)
    assert again.status_code == 422 and "exists already" in again.text


def test_new_form_prefills_the_default_mapping_and_shows_the_fields(
    admin: FlaskClient, fake_kind: None
) -> None:
    page = admin.get("/pay/admin/connectors/new?kind=fake").text
    assert "Instance URL" in page and "https://…" in page
    assert 'value="payment_object"' in page and 'value="Balance__c"' in page
    for kind in ("builtin", "salesforce", "hubspot", "dynamics", "webhook"):
        form = admin.get(f"/pay/admin/connectors/new?kind={kind}")
        assert form.status_code == 200 and 'id="connector-form"' in form.text, kind
    assert admin.get("/pay/admin/connectors/new?kind=nope").status_code == 404
    assert admin.get("/pay/admin/connectors/missing").status_code == 404


def test_without_the_csrf_token_nothing_is_saved(
    admin: FlaskClient, ctx: Context, fake_kind: None
) -> None:
    resp = admin.post(
        "/pay/admin/connectors/new?kind=fake",
        data={"name": "acme", "setting-instance": "x", "secret-token": SECRET},
    )
    assert resp.status_code == 400 and "Nothing was changed" in resp.text
    assert connectors.list_connectors(ctx) == []
    assert _new_fake(admin).status_code == 302
    assert admin.post("/pay/admin/connectors/acme/enable").status_code == 400
    assert connectors.connector_view(ctx, "acme")["enabled"] is False


def test_enable_disable_and_version_history(
    admin: FlaskClient, ctx: Context, fake_kind: None
) -> None:
    assert _new_fake(admin).status_code == 302
    page = admin.get("/pay/admin/connectors/acme")
    token = csrf_of(page.text)
    assert 'id="enable"' not in page.text  # Enable needs a passing test first
    admin.post("/pay/admin/connectors/acme/test", data={"csrf_token": token})
    page = admin.get("/pay/admin/connectors/acme")
    assert 'id="enable"' in page.text
    admin.post("/pay/admin/connectors/acme/enable", data={"csrf_token": token})
    page = admin.get("/pay/admin/connectors/acme").text
    assert "Connector acme enabled" in page and 'id="disable"' in page
    assert connectors.connector_view(ctx, "acme")["enabled"] is True
    admin.post("/pay/admin/connectors/acme/disable", data={"csrf_token": token})
    page = admin.get("/pay/admin/connectors/acme").text
    assert "Connector acme disabled" in page
    history = page.split('id="history"')[1]
    assert [int(v) for v in re.findall(r">v(\d+)<", history)] == [3, 2, 1]
    assert "admin@example.com" in history and "changed" in history
    assert "No connector is enabled" in admin.get("/pay/admin/").text


def test_a_real_webhook_connector_through_the_form(
    admin: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    import responses

    caplog.set_level(logging.DEBUG)
    signing_secret = "whsec-" + SECRET
    resp = _post_form(
        admin,
        "/pay/admin/connectors/new?kind=webhook",
        {
            "name": "hooks",
            "setting-url": "https://receiver.example/crm-pay",
            "secret-signing_secret": signing_secret,
        },
    )
    assert resp.status_code == 302, resp.text
    page = admin.get("/pay/admin/connectors/hooks")
    with responses.RequestsMock() as rsps:
        rsps.post("https://receiver.example/crm-pay", status=401, body="bad signature")
        admin.post("/pay/admin/connectors/hooks/test", data={"csrf_token": csrf_of(page.text)})
    page = admin.get("/pay/admin/connectors/hooks")
    assert re.search(r'data-check="delivery" data-ok="no">', page.text)
    assert "401" in page.text
    for text in (page.text, admin.get("/pay/admin/").text, caplog.text):
        assert signing_secret not in text and SECRET not in text


def test_a_hubspot_connector_round_trips_through_its_own_form(admin: FlaskClient) -> None:
    """Whatever the form shows (including empty mapping defaults) can be saved back."""
    page = admin.get("/pay/admin/connectors/new?kind=hubspot")
    keys = re.findall(r'name="map_key" value="([^"]*)"', page.text)
    values = re.findall(r'name="map_value" value="([^"]*)"', page.text)
    data = {
        "name": "hs",
        "setting-auth": "private_app",
        "secret-access_token": "pat-" + SECRET,
        "map_key": keys,
        "map_value": values,
    }
    assert _post_form(admin, "/pay/admin/connectors/new?kind=hubspot", data).status_code == 302
    page = admin.get("/pay/admin/connectors/hs")
    keys = re.findall(r'name="map_key" value="([^"]*)"', page.text)
    values = re.findall(r'name="map_value" value="([^"]*)"', page.text)
    again = _post_form(
        admin,
        "/pay/admin/connectors/hs",
        {"setting-auth": "private_app", "map_key": keys, "map_value": values},
    )
    assert again.status_code == 302, again.text
    assert "version 2" in admin.get("/pay/admin/connectors/hs").text
    bad = _post_form(
        admin,
        "/pay/admin/connectors/hs",
        {"setting-auth": "private_app", "map_key": ["", "1bad"], "map_value": ["x", "y"]},
    )
    assert bad.status_code == 422 and "not valid" in bad.text
