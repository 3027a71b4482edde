"""The API describes itself (OpenAPI 3.1), reports health, and answers every error
in the one envelope."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

API = "/pay/api/v1"
_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _api_routes(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) for every rule of the crm_pay_api blueprint."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("crm_pay_api."):
            continue
        assert rule.rule.startswith(API), rule.rule
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(API) :])
        if path == "/openapi.json":
            continue  # the document itself
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                found.add((path, method.lower()))
    return found


def _doc(client: FlaskClient) -> dict[str, Any]:
    resp = client.get(f"{API}/openapi.json")
    assert resp.status_code == 200
    assert resp.is_json
    return resp.get_json()  # type: ignore[no-any-return]


def test_openapi_is_served_without_auth_and_is_3_1(client: FlaskClient) -> None:
    doc = _doc(client)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["servers"][0]["url"] == API
    assert isinstance(doc["paths"], dict) and doc["paths"]


def test_every_api_route_is_documented_and_nothing_else(app: Flask, client: FlaskClient) -> None:
    doc = _doc(client)
    documented = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method in _HTTP_METHODS
    }
    routes = _api_routes(app)
    assert routes, "no API routes found; the blueprint name changed?"
    assert routes - documented == set(), "routes missing from openapi.json"
    assert documented - routes == set(), "openapi.json documents routes that do not exist"


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        for v in node.values():
            out.extend(_refs(v))
        return out
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_openapi_structure_is_sound(client: FlaskClient) -> None:
    doc = _doc(client)
    for ref in _refs(doc):
        _resolve(doc, ref)
    for name, scheme in doc["components"]["securitySchemes"].items():
        assert scheme["type"] == "http" and scheme["scheme"].lower() == "bearer", name
    for requirement in doc.get("security", []):
        assert set(requirement) <= set(doc["components"]["securitySchemes"])
    for path, item in doc["paths"].items():
        assert path.startswith("/")
        placeholders = set(re.findall(r"{([^}]+)}", path))
        for method, op in item.items():
            if method not in _HTTP_METHODS:
                continue
            params = op.get("parameters", []) + item.get("parameters", [])
            in_path = {p["name"] for p in params if p.get("in") == "path"}
            assert in_path == placeholders, (path, method)
            assert all(p.get("required") is True for p in params if p.get("in") == "path")
            assert op["responses"], (path, method)
            for status in op["responses"]:
                assert status == "default" or re.fullmatch(r"[1-5](\d\d|XX)", status), status
    post = doc["paths"]["/payments"]["post"]
    params = {p["name"]: p for p in post["parameters"]}
    assert params["Idempotency-Key"]["in"] == "header"
    error = _resolve(doc, "#/components/responses/Error")
    assert "content" in error and "application/json" in error["content"]


def test_healthz(client: FlaskClient) -> None:
    resp = client.get("/pay/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def _envelope(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.data[:300]
    assert resp.is_json, f"not JSON: {resp.content_type} {resp.data[:120]!r}"
    body = resp.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]  # type: ignore[no-any-return]


def test_unknown_payment_is_404_envelope(client: FlaskClient, auth: dict[str, str]) -> None:
    err = _envelope(client.get(f"{API}/payments/pay_doesnotexist", headers=auth), 404)
    assert err["code"] == "not_found"
    assert "pay_doesnotexist" in err["message"]


def test_unknown_receipt_is_404_envelope(client: FlaskClient, auth: dict[str, str]) -> None:
    err = _envelope(client.get(f"{API}/receipts/R-2099-999999", headers=auth), 404)
    assert err["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("delete", "/payments/pay_x", 405),
        ("put", "/payments", 405),
        ("post", "/customers/CUST-0001", 405),
        ("get", "/no-such-endpoint", 404),
    ],
)
def test_routing_errors_on_api_paths_use_the_envelope(
    client: FlaskClient, auth: dict[str, str], method: str, path: str, status: int
) -> None:
    resp = getattr(client, method)(f"{API}{path}", headers=auth)
    err = _envelope(resp, status)
    assert err["code"] in ("method_not_allowed", "not_found")


def test_wrong_method_is_405_at_least(client: FlaskClient, auth: dict[str, str]) -> None:
    """The status part of the above holds today; only the body is wrong."""
    assert client.delete(f"{API}/payments/pay_x", headers=auth).status_code == 405


def test_behind_a_proxy_the_client_address_is_the_forwarded_one(
    db_url: str, sandbox: Any, tmp_path: Any
) -> None:
    from flask import request

    from crm_pay.app import create_app
    from paytest import app_config

    app = create_app(
        app_config(db_url, sandbox, tmp_path, CRM_PAY_PROXY_FIX=1),
        instance_path=str(tmp_path / "proxied"),
    )

    @app.get("/who")
    def who() -> str:
        return request.remote_addr or ""

    try:
        seen = app.test_client().get("/who", headers={"X-Forwarded-For": "203.0.113.7"})
        assert seen.get_data(as_text=True) == "203.0.113.7"
    finally:
        from crm_pay.current import get_context

        get_context(app).db.dispose()
