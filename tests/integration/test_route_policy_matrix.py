"""Every route the app registers x every principal, against the route table.

The route table (crm_pay/api/route_policy.py) must list exactly the endpoints the app
registers: a new route without an entry fails here by name. For each role-guarded route
and each principal (anonymous, agent, other agent, supervisor, admin users; an API key
of each role, the key-only telephony role too; another agent's key; a revoked key) the
request is made with that principal's credentials and real objects in the URL, and the
outcome class (refused: 401/403, a redirect to sign-in, or the deliberate 404 of "not
yours"; allowed: anything else) must be what :func:`policy.may` says. The pay-link and
portal-link holders are walked over every route too: each reaches its own kind of link
and nothing else.
Launch, webhook and pending-sign-in routes check their own signatures and tokens in
their own tests (console launch tests, webhook tests, test_console_mfa.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crm_pay.api import route_policy
from crm_pay.app import create_app
from crm_pay.current import get_context
from crm_pay.persistence.migrate import upgrade
from crm_pay.services import policy
from crm_pay.services.access import Principal, create_api_key, create_user, revoke_api_key
from paytest import app_config, paid

PASSWORD = "correct horse battery"
COOKIE = "crm_pay_session"


@dataclass
class Who:
    name: str
    client: FlaskClient
    principal: Principal | None  # None: anonymous or a refused credential
    surface: str  # "console" (cookie), "api" (key) or "none"
    headers: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sandbox: Any) -> Iterator[dict[str, Any]]:
    tmp: Path = tmp_path_factory.mktemp("matrix")
    app: Flask = create_app(
        app_config(
            f"sqlite:///{tmp / 'db.sqlite'}",
            sandbox,
            tmp,
            CRM_PAY_API_UNAUTHENTICATED_RATE_LIMIT="100000/minute",
            CRM_PAY_API_RATE_LIMIT="100000/minute",
        ),
        instance_path=str(tmp / "instance"),
    )
    ctx = get_context(app)
    upgrade(ctx.db)
    keys = {r: create_api_key(ctx, name=f"k-{r}", role=r) for r in policy.API_KEY_ROLES}
    keys["other"] = create_api_key(ctx, name="k-other", role="agent")
    revoked = create_api_key(ctx, name="k-revoked", role="admin")
    revoke_api_key(ctx, int(_key_id(ctx, "k-revoked")), actor="test")
    users = {
        r: create_user(ctx, email=f"{r}@example.com", role=r, password=PASSWORD)
        for r in policy.ROLES
    }
    users["agent2"] = create_user(ctx, email="agent2@example.com", role="agent", password=PASSWORD)
    victim = create_user(ctx, email="victim@example.com", role="agent", password=PASSWORD)

    owner_headers = {"Authorization": f"Bearer {keys['agent']}"}
    payment = paid(app.test_client(), owner_headers, "25.00")
    params = {
        "payment_id": payment["id"],
        "number": str(payment["receipt_number"]),
        "crm_ref": "CUST-0001",
        "name": "builtin",
        "day": "2026-01-01",
        "user_id": str(victim),
        "session_id": "999999",
        "key_id": "999999",  # never revoke a key the matrix uses
        "message_id": "999999",
        "dispute_id": "999999",  # none: a 404 past the guard
        "evidence_id": "999999",
        "case_id": "999999",  # none: a 404 past the guard
        "approval_id": "apr_none",  # none: a 404 past the guard
        "psp": "braintree",  # the webhook route of the configured PSP
        "rule_id": "999999",  # no reminder rule: a 404 past the guard
        "kind": "reminder",  # a message kind the admin previews
        "account": "USD",  # a merchant account whose wallets the admin sets
    }
    who: list[Who] = [Who("anonymous", _anon(app), None, "none", {})]
    for name in ("agent", "agent2", "supervisor", "admin"):
        client = _anon(app)
        page = client.get("/pay/agent/login")
        resp = client.post(
            "/pay/agent/login",
            data={
                "email": f"{name}@example.com",
                "password": PASSWORD,
                "csrf_token": _csrf(client),
            },
        )
        assert resp.status_code == 302, (name, page.status_code, resp.text[:300])
        role = "agent" if name == "agent2" else name
        who.append(
            Who(f"user:{name}", client, Principal("user", users[name], name, role), "console", {})
        )
    ids = {name: _key_id(ctx, f"k-{name}") for name in (*policy.API_KEY_ROLES, "other")}
    for name, secret in keys.items():
        role = "agent" if name == "other" else name
        who.append(
            Who(
                f"key:{name}",
                _anon(app),
                Principal("api_key", ids[name], f"k-{name}", role),
                "api",
                {"Authorization": f"Bearer {secret}"},
            )
        )
    who.append(Who("key:revoked", _anon(app), None, "api", {"Authorization": f"Bearer {revoked}"}))
    yield {"app": app, "who": who, "params": params, "created_by": payment.get("created_by")}
    ctx.db.dispose()


def _anon(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.get("/pay/agent/login")  # a console cookie with a CSRF token
    return client


def _csrf(client: FlaskClient) -> str:
    from agent_ui.console_session import decode

    cookie = client.get_cookie(COOKIE, path="/pay")
    assert cookie is not None
    with client.application.app_context():
        return str(decode(cookie.value).get("csrf", ""))


def _key_id(ctx: Any, name: str) -> int:
    from sqlalchemy import select

    from crm_pay.persistence.models import ApiKey

    with ctx.db.transaction() as s:
        return int(s.scalars(select(ApiKey.id).where(ApiKey.name == name)).one())


def _rules(app: Flask) -> list[Any]:
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule))


def test_the_route_table_lists_exactly_the_registered_endpoints(world: dict[str, Any]) -> None:
    registered = {r.endpoint for r in _rules(world["app"])}
    missing = sorted(registered - route_policy.ROUTES.keys())
    assert not missing, (
        f"endpoints with no authorization policy (add to route_policy.ROUTES): {missing}"
    )
    # Demo-only endpoints are registered only in demo mode.
    gone = sorted(
        e for e in route_policy.ROUTES.keys() - registered if not e.startswith("crm_pay_mailbox.")
    )
    assert not gone, f"route_policy.ROUTES lists endpoints the app no longer has: {gone}"


def _surface(endpoint: str) -> str:
    return "api" if endpoint.startswith("crm_pay_api.") else "console"


def _expected(w: Who, endpoint: str, action: str, created_by: str) -> bool:
    if w.principal is None or w.surface != _surface(endpoint):
        return False
    obj = created_by if action in policy.OWNED else None
    return policy.may(w.principal, action, obj)


def _refused(endpoint: str, action: str, status: int, location: str) -> bool:
    if status in (401, 403):
        return True
    if status == 302 and "/pay/agent/login" in location:
        return True
    return status == 404 and action in policy.OWNED


def test_every_guarded_route_answers_every_principal_as_the_policy_says(
    world: dict[str, Any],
) -> None:
    app, params = world["app"], world["params"]
    created_by = world["created_by"]
    assert created_by, "the API shows no created_by for the payment"
    wrong: list[str] = []
    checked = 0
    for rule in _rules(app):
        action = route_policy.ROUTES.get(rule.endpoint)
        if action is None or action in route_policy.MARKERS:
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = url.replace(f"<{arg}>", params[arg]).replace(f"<int:{arg}>", params[arg])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for w in world["who"]:
                headers = dict(w.headers)
                headers["X-CSRF-Token"] = _csrf(w.client)  # refusals must not be CSRF 400s
                kwargs: dict[str, Any] = {"headers": headers}
                if method == "POST" and rule.endpoint.startswith("crm_pay_api."):
                    kwargs["json"] = {}
                resp = w.client.open(url, method=method, **kwargs)
                refused = _refused(rule.endpoint, action, resp.status_code, resp.location or "")
                want = _expected(w, rule.endpoint, action, created_by)
                checked += 1
                if refused == want:
                    wrong.append(
                        f"{method} {url} ({rule.endpoint}, {action}) as {w.name}: "
                        f"{resp.status_code}, expected {'allowed' if want else 'refused'}"
                    )
    assert checked > 300
    assert not wrong, "\n".join(wrong)


def test_each_key_only_role_lists_known_actions_and_no_user_role_is_one() -> None:
    assert set(policy.KEY_ONLY_ACTIONS) == set(policy.API_KEY_ROLES) - set(policy.ROLES)
    for role, actions in policy.KEY_ONLY_ACTIONS.items():
        assert actions and actions <= policy.ACTIONS.keys(), role
        key = Principal("api_key", 1, "k", role)
        assert {a for a in policy.ACTIONS if policy.may(key, a)} == actions
        assert not any(policy.may(Principal("user", 1, "u", role), a) for a in policy.ACTIONS)


def test_an_endpoint_without_policy_is_refused(world: dict[str, Any]) -> None:
    assert route_policy.action_for("crm_pay_console.no_such_page") is None
    assert not policy.may(Principal("user", 1, "a", "admin"), "no.such.action")
    with pytest.raises(Exception, match="no authorization policy"):
        policy.require(Principal("user", 1, "a", "admin"), "no.such.action")


def _doc_rows() -> dict[str, str]:
    doc = Path(__file__).parents[2] / "docs" / "security" / "authorization.md"
    rows: dict[str, str] = {}
    for line in doc.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 2:
            rows[cells[0]] = cells[1]
    return rows


def test_the_authorization_doc_matches_the_policy_and_the_route_table() -> None:
    rows = _doc_rows()
    for action, role in policy.ACTIONS.items():
        assert rows.get(action) == role, (
            f"docs/security/authorization.md: {action} should say {role}"
        )
    for endpoint, needs in route_policy.ROUTES.items():
        assert rows.get(endpoint) == needs, (
            f"docs/security/authorization.md: {endpoint} should say {needs}"
        )
    listed = {k for k in rows if k not in policy.ACTIONS}
    assert listed <= route_policy.ROUTES.keys(), (
        f"doc lists unknown endpoints: {listed - route_policy.ROUTES.keys()}"
    )


def test_live_payment_rooms_follow_the_policy(world: dict[str, Any]) -> None:
    """Socket.IO ``/live`` rooms: the socket handler asks ``live_access.can_watch``
    (tests/integration/live/ drive the sockets themselves); here every principal."""
    from crm_pay.services.live_access import can_watch

    ctx = get_context(world["app"])
    payment_id = world["params"]["payment_id"]
    for w in world["who"]:
        want = w.principal is not None and policy.may(
            w.principal, "live.join_payment_room", world["created_by"]
        )
        assert can_watch(ctx, w.principal, payment_id) is want, w.name
    assert not can_watch(ctx, None, payment_id)
    assert not can_watch(ctx, Principal("user", 999, "x", "admin"), "no-such-payment")


def test_link_holders_reach_their_own_link_and_nothing_else(world: dict[str, Any]) -> None:
    """The two principals whose credential is a URL: a pay-link holder (the customer,
    or whoever got the link) and a receipts-portal link holder. Each has opened its
    own link first (so any cookie such a page sets is in its client); then every route
    the app registers is tried with the token it holds in every token slot."""
    from crm_pay.services.portal import receipt_link
    from paytest import create_link, token_of

    app, params = world["app"], world["params"]
    ctx = get_context(app)
    key = create_api_key(ctx, name="k-links", role="agent")
    status, link = create_link(app.test_client(), {"Authorization": f"Bearer {key}"})
    assert status == 201, link
    pay_token = token_of(link["pay_url"])
    portal_url = receipt_link(ctx, "CUST-0001", params["number"])
    portal_token = portal_url.rsplit("/r/", 1)[1]
    holders = {
        route_policy.LINK_TOKEN: (pay_token, f"/pay/p/{pay_token}"),
        route_policy.PORTAL_LINK: (portal_token, f"/pay/r/{portal_token}"),
    }
    wrong: list[str] = []
    checked = 0
    for marker, (held, own_page) in holders.items():
        client = app.test_client()
        assert client.get(own_page).status_code == 200, own_page
        for rule in _rules(app):
            needs = route_policy.ROUTES[rule.endpoint]
            if needs in (route_policy.STATIC, route_policy.PUBLIC):
                continue
            url = rule.rule
            for arg in rule.arguments:
                value = held if arg in ("token", "signed") else params[arg]
                url = url.replace(f"<{arg}>", value).replace(f"<int:{arg}>", value)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                resp = client.open(url, method=method, headers={"Accept": "text/html"})
                denied = resp.status_code in (401, 403, 404, 410) or (
                    resp.status_code == 302 and "/pay/agent/login" in (resp.location or "")
                )
                # Its own kind of link is the one thing it may open. Everywhere else the
                # answer is a refusal: 401/403/404, the sign-in page, the CSRF 400 that
                # a console POST without a session gets, or a launch/PSP signature
                # check's 400/503; never a success.
                ok = not denied if needs == marker else denied or resp.status_code >= 400
                checked += 1
                if not ok:
                    wrong.append(f"{method} {url} ({rule.endpoint}, {needs}) as {marker} holder")
    assert checked > 100
    assert not wrong, "\n".join(wrong)
