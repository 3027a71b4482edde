"""API authentication and roles: who may call the JSON API, and what they hear if not."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Blueprint, Flask, jsonify
from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from crm_pay.persistence.models import ApiKey
from crm_pay.services.access import create_api_key
from crm_pay.services.context import Context

CUSTOMER = "/pay/api/v1/customers/CUST-0001"


def _assert_envelope(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.data
    assert resp.is_json, resp.data
    body = resp.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["message"].strip()
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": ""}, id="empty-header"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic-scheme"),
        pytest.param({"Authorization": "Bearer"}, id="bearer-without-key"),
        pytest.param({"Authorization": "Token cpk_abc"}, id="wrong-scheme"),
    ],
)
def test_missing_or_malformed_authorization_is_401_with_envelope(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    err = _assert_envelope(client.get(CUSTOMER, headers=headers), 401, "unauthorized")
    assert "Bearer" in err["message"]


def test_unknown_key_is_401(client: FlaskClient, api_key: str) -> None:
    forged = api_key[:-4] + ("aaaa" if not api_key.endswith("aaaa") else "bbbb")
    _assert_envelope(
        client.get(CUSTOMER, headers={"Authorization": f"Bearer {forged}"}), 401, "unauthorized"
    )
    _assert_envelope(
        client.get(CUSTOMER, headers={"Authorization": "Bearer not-even-a-key"}),
        401,
        "unauthorized",
    )


def test_valid_key_works_and_bearer_scheme_is_case_insensitive(
    client: FlaskClient, api_key: str
) -> None:
    assert client.get(CUSTOMER, headers={"Authorization": f"Bearer {api_key}"}).status_code == 200
    assert client.get(CUSTOMER, headers={"Authorization": f"bearer {api_key}"}).status_code == 200


def test_revoked_key_is_401(client: FlaskClient, ctx: Context, api_key: str) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    assert client.get(CUSTOMER, headers=headers).status_code == 200
    with ctx.db.transaction() as s:
        s.execute(update(ApiKey).values(revoked_at=ctx.now()))
    err = _assert_envelope(client.get(CUSTOMER, headers=headers), 401, "unauthorized")
    assert "revoked" in err["message"]


def test_api_keys_are_stored_hashed(ctx: Context) -> None:
    raw = create_api_key(ctx, name="hash-check", role="agent")
    with ctx.db.engine.connect() as conn:
        rows = [tuple(str(v) for v in r) for r in conn.execute(text("SELECT * FROM api_keys"))]
    assert rows, "the key was not stored at all"
    dump = repr(rows)
    assert raw not in dump
    # Not even the secret part after the public prefix is stored.
    assert raw[12:] not in dump
    with ctx.db.transaction() as s:
        row = s.scalars(select(ApiKey).where(ApiKey.name == "hash-check")).one()
        assert row.key_hash != raw and len(row.key_hash) == 64


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_higher_roles_may_use_agent_endpoints(client: FlaskClient, ctx: Context, role: str) -> None:
    key = create_api_key(ctx, name=f"{role}-key", role=role)
    resp = client.get(CUSTOMER, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200
    assert resp.get_json()["crm_ref"] == "CUST-0001"


def _mount_guarded_route(app: Flask) -> None:
    """No shipped endpoint needs more than 'agent' yet: mount one guarded by the API's own
    ``auth`` decorator and error handlers, exactly as routes.py uses them."""
    from crm_pay.api.errors import register_error_handlers
    from crm_pay.api.routes import auth

    bp = Blueprint("test_guarded", __name__)
    register_error_handlers(bp)

    @bp.get("/supervisor-only")
    @auth("supervisor")
    def supervisor_only() -> Any:
        return jsonify({"ok": True})

    app.register_blueprint(bp, url_prefix="/pay/api/v1/test")


def test_role_too_low_is_403_and_enough_role_passes(
    app: Flask, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm_pay.api import route_policy

    _mount_guarded_route(app)
    # Every route needs a line in the route table (docs/security/authorization.md).
    monkeypatch.setitem(route_policy.ROUTES, "test_guarded.supervisor_only", "reconciliation.view")
    client = app.test_client()
    agent = create_api_key(ctx, name="agent", role="agent")
    supervisor = create_api_key(ctx, name="sup", role="supervisor")
    admin = create_api_key(ctx, name="adm", role="admin")
    url = "/pay/api/v1/test/supervisor-only"
    err = _assert_envelope(
        client.get(url, headers={"Authorization": f"Bearer {agent}"}), 403, "forbidden"
    )
    assert "supervisor" in err["message"] and "agent" in err["message"]
    for key in (supervisor, admin):
        resp = client.get(url, headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == 200 and resp.get_json() == {"ok": True}
    # Unauthenticated still 401 before any role check.
    _assert_envelope(client.get(url), 401, "unauthorized")


def test_an_api_route_missing_from_the_route_table_is_refused(app: Flask, ctx: Context) -> None:
    """Fail closed: a guarded route nobody gave a policy line is 403 even for an admin."""
    _mount_guarded_route(app)
    admin = create_api_key(ctx, name="adm", role="admin")
    resp = app.test_client().get(
        "/pay/api/v1/test/supervisor-only", headers={"Authorization": f"Bearer {admin}"}
    )
    err = _assert_envelope(resp, 403, "forbidden")
    assert "no authorization policy" in err["message"]
