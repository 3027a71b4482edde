"""A revoked API key is refused (401, plain words) on every API route it used to reach,
while other keys keep working; its last use is recorded while it was valid."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crm_pay.domain.errors import Conflict, NotFound
from crm_pay.services.access import create_api_key, list_api_keys, revoke_api_key
from crm_pay.services.context import Context

# Routes open without a key (the schema and the health probe) and the PSP webhook, which
# authenticates with Braintree's signature instead.
_OPEN = {"crm_pay_api.openapi", "crm_pay_api.healthz"}


def _keyed_routes(app: Flask) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] != "crm_pay_api" or rule.endpoint in _OPEN:
            continue
        # Placeholders: the key check comes before any lookup of the object (a number
        # where the route takes one, else routing would answer 404 before the key check).
        path = re.sub(
            r"<(?:([^:>]+):)?([^>]+)>",
            lambda m: "999999" if m.group(1) == "int" else f"X-{m.group(2)}",
            rule.rule,
        )
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


def _call(client: FlaskClient, method: str, path: str, key: str):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "revoked-key-test"}
    return client.open(path, method=method, json={} if method == "POST" else None, headers=headers)


def test_every_keyed_route_refuses_a_revoked_key(app: Flask, ctx: Context) -> None:
    client = app.test_client()
    key = create_api_key(ctx, name="leaked", role="admin")
    other = create_api_key(ctx, name="kept", role="admin")
    routes = _keyed_routes(app)
    assert len(routes) >= 10, routes  # the walk found the API, not nothing
    for method, path in routes:
        assert _call(client, method, path, key).status_code != 401, (method, path)

    key_id = next(k["id"] for k in list_api_keys(ctx) if k["name"] == "leaked")
    revoke_api_key(ctx, key_id, actor="test")

    for method, path in routes:
        resp = _call(client, method, path, key)
        assert resp.status_code == 401, (method, path, resp.data)
        err = resp.get_json()["error"]
        assert err["code"] == "unauthorized"
        assert "revoked" in err["message"] and "new one" in err["message"]
        # Another key is untouched by the revocation.
        assert _call(client, method, path, other).status_code != 401, (method, path)


def test_revoked_key_keeps_its_last_used_time_and_nothing_else_changes(
    app: Flask, ctx: Context, auth: dict[str, str]
) -> None:
    client = app.test_client()
    assert client.get("/pay/api/v1/customers/CUST-0001", headers=auth).status_code == 200
    (row,) = list_api_keys(ctx)
    assert row["last_used_at"] is not None and row["revoked_at"] is None
    used = row["last_used_at"]
    revoke_api_key(ctx, int(row["id"]), actor="test")
    assert client.get("/pay/api/v1/customers/CUST-0001", headers=auth).status_code == 401
    (after,) = list_api_keys(ctx)
    # A refused call is not a use.
    assert after["last_used_at"] == used and after["revoked_at"] is not None


def test_revoking_twice_or_an_unknown_key_is_a_clear_error(ctx: Context, api_key: str) -> None:
    (row,) = list_api_keys(ctx)
    revoke_api_key(ctx, int(row["id"]), actor="test")
    with pytest.raises(Conflict, match="already revoked"):
        revoke_api_key(ctx, int(row["id"]), actor="test")
    with pytest.raises(NotFound, match="no API key 999"):
        revoke_api_key(ctx, 999, actor="test")
