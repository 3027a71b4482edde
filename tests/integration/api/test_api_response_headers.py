"""Response headers on crm-pay's own answers, and only on those: HSTS when the public
URL is https, ``Cache-Control: no-store`` on the API (it answers with personal data),
``Allow`` on every 405, and a host application's own routes left exactly as they were."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import MethodNotAllowed

from crm_pay import CrmPay
from crm_pay.current import get_context
from crm_pay.persistence.migrate import upgrade
from crm_pay.services.access import create_api_key
from paytest import app_config, create_link

API = "/pay/api/v1"
HSTS = "Strict-Transport-Security"


@pytest.fixture
def https_app(db_url: str, sandbox: Any, tmp_path: Path) -> Iterator[Flask]:
    """A host app with its own routes and its own 405 page, then crm-pay mounted on it,
    served at an https public URL."""
    host = Flask("host_shop", instance_path=str(tmp_path / "host"))
    host.config.update(
        app_config(db_url, sandbox, tmp_path, CRM_PAY_PUBLIC_URL="https://shop.test")
    )

    @host.get("/shop/items")
    def items() -> dict[str, Any]:
        return {"items": []}

    @host.errorhandler(405)
    def host_405(exc: MethodNotAllowed) -> tuple[str, int]:
        return "host's own 405 page", 405

    CrmPay(host)
    upgrade(get_context(host).db)
    yield host
    get_context(host).db.dispose()


def test_api_answers_are_not_stored_by_any_cache(client: FlaskClient, auth: dict[str, str]) -> None:
    customer = client.get(f"{API}/customers/CUST-0001", headers=auth)
    assert customer.status_code == 200
    assert customer.headers["Cache-Control"] == "no-store"
    assert customer.headers["X-Content-Type-Options"] == "nosniff"
    status, created = create_link(client, auth, amount="5.00")
    assert status == 201
    payment = client.get(f"{API}/payments/{created['id']}", headers=auth)
    assert payment.headers["Cache-Control"] == "no-store"
    # errors too: a 404 envelope names what was asked for
    missing = client.get(f"{API}/payments/pay_nope", headers=auth)
    assert missing.status_code == 404 and missing.headers["Cache-Control"] == "no-store"


def test_no_hsts_while_the_public_url_is_plain_http(client: FlaskClient, auth: dict[str, str]):
    assert HSTS not in client.get(f"{API}/customers/CUST-0001", headers=auth).headers
    assert HSTS not in client.get("/pay/agent/login").headers


def test_hsts_on_every_crm_pay_page_behind_https(https_app: Flask) -> None:
    client = https_app.test_client()
    key = create_api_key(get_context(https_app), name="k", role="agent")
    auth = {"Authorization": f"Bearer {key}"}
    status, created = create_link(client, auth, amount="7.00")
    assert status == 201
    token = created["pay_url"].rsplit("/p/", 1)[1]
    answers = {
        "api": client.get(f"{API}/customers/CUST-0001", headers=auth),
        "api error": client.get(f"{API}/payments/pay_nope", headers=auth),
        "login": client.get("/pay/agent/login"),
        "console redirect": client.get("/pay/agent/"),
        "pay page": client.get(f"/pay/p/{token}"),
        "portal": client.get("/pay/r/not-a-valid-link"),
        "health": client.get("/pay/healthz"),
    }
    for name, resp in answers.items():
        assert resp.headers.get(HSTS) == "max-age=31536000", name
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", name


def test_the_host_apps_own_routes_are_left_alone(https_app: Flask) -> None:
    client = https_app.test_client()
    own = client.get("/shop/items")
    assert own.status_code == 200 and own.get_json() == {"items": []}
    for header in (HSTS, "Cache-Control", "X-Content-Type-Options", "Content-Security-Policy"):
        assert header not in own.headers, header
    # the host's 405 page still answers for its own paths ...
    wrong = client.post("/shop/items")
    assert wrong.status_code == 405 and wrong.get_data(as_text=True) == "host's own 405 page"
    # ... while crm-pay's API answers its 405s in its envelope, with Allow
    api = client.delete(f"{API}/customers/CUST-0001")
    assert api.status_code == 405 and api.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in api.headers["Allow"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/payments/pay_x", {"GET", "HEAD", "OPTIONS"}),
        ("put", "/payments", {"POST", "OPTIONS"}),
        ("post", "/customers/CUST-0001", {"GET", "HEAD", "OPTIONS"}),
        ("get", "/payments/pay_x/refund", {"POST", "OPTIONS"}),
    ],
)
def test_every_api_405_says_which_methods_the_resource_has(
    client: FlaskClient, auth: dict[str, str], method: str, path: str, allowed: set[str]
) -> None:
    resp = getattr(client, method)(f"{API}{path}", headers=auth)
    assert resp.status_code == 405
    assert resp.get_json()["error"]["code"] == "method_not_allowed"
    assert {m.strip() for m in resp.headers["Allow"].split(",")} == allowed
    # and the method that is allowed does answer (not another 405)
    assert method.upper() not in allowed


def test_405s_of_console_pages_carry_allow_too(client: FlaskClient) -> None:
    resp = client.delete("/pay/agent/login")
    assert resp.status_code == 405
    assert {m.strip() for m in resp.headers["Allow"].split(",")} >= {"GET", "POST"}
