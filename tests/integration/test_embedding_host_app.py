"""A host application with its own login, session, forms, error pages, request hooks and
logging answers exactly the same with and without ``CrmPay(app)``; crm-pay's console
still works inside it, with a cookie of its own.

The same requests run against the host built twice (once plain, once with crm-pay
mounted) and every answer is compared: status, body, headers, and the names and
attributes of the cookies the host sets. The host's configuration, hooks, handlers,
login manager, template globals and logging are compared too."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g, render_template_string, request, session
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user

from crm_pay import CrmPay
from crm_pay.current import get_context
from crm_pay.persistence.migrate import upgrade
from crm_pay.services.access import create_user
from paytest import app_config
from paytest import csrf_of as _csrf

HOST_LOG = "host_shop"
PASSWORD = "a-long-test-password"


class HostUser(UserMixin):  # type: ignore[misc]
    def __init__(self, user_id: str) -> None:
        self.id = user_id


class Captured(logging.Handler):
    """The host's own root handler: keeps what it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(HOST_LOG):
            tag = getattr(record, "host_tag", "-")
            self.lines.append(f"{record.name} {tag} {record.getMessage()}")


@pytest.fixture
def host_logging() -> Iterator[Captured]:
    """The host's logging: its own record factory and a handler on the root logger."""
    root = logging.getLogger()
    before_factory, before_level = logging.getLogRecordFactory(), root.level
    base = logging.getLogRecordFactory()

    def host_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        record.host_tag = "host-factory"
        return record

    logging.setLogRecordFactory(host_factory)
    handler = Captured()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(before_level)
    logging.setLogRecordFactory(before_factory)


def build_host(tmp_path: Path, name: str, crm_pay: dict[str, Any] | None) -> Flask:
    # the host's own static files: crm-pay's caching and compression are not theirs
    static = tmp_path / "host_static"
    static.mkdir(exist_ok=True)
    (static / "shop.js").write_text("function shop() { return 'tea'; }\n" * 100)
    host = Flask(
        HOST_LOG,
        instance_path=str(tmp_path / name),
        static_folder=str(static),
        static_url_path="/static",
    )
    host.config.update(
        SECRET_KEY="the-host-apps-own-secret",
        SESSION_COOKIE_NAME="host_session",
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=False,
        SESSION_COOKIE_HTTPONLY=False,
        REMEMBER_COOKIE_NAME="host_remember",
        REMEMBER_COOKIE_SECURE=False,
    )
    manager = LoginManager(host)
    manager.login_view = "login"

    @manager.user_loader
    def load(user_id: str) -> HostUser | None:
        return HostUser(user_id) if user_id == "alice" else None

    @host.before_request
    def before() -> None:
        g.host_seen = True

    @host.after_request
    def after(resp: Any) -> Any:
        resp.headers["X-Host-Hook"] = "yes" if g.get("host_seen") else "no"
        return resp

    @host.errorhandler(404)
    def not_found(exc: Exception) -> tuple[str, int]:
        return "host's own 404 page", 404

    @host.errorhandler(405)
    def not_allowed(exc: Exception) -> tuple[str, int]:
        return "host's own 405 page", 405

    @host.get("/")
    def index() -> str:
        session["visits"] = session.get("visits", 0) + 1
        return render_template_string("visits {{ n }}", n=session["visits"])

    @host.post("/orders")
    def orders() -> str:
        host.logger.info("order for card %s", request.form.get("card", ""))
        return f"order {request.form.get('item', '?')} taken"

    @host.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "POST" and request.form.get("user") == "alice":
            login_user(HostUser("alice"), remember=True)
            return "signed in"
        return "host login page", 401 if request.method == "POST" else 200

    @host.get("/account")
    @login_required
    def account() -> str:
        return f"account of {current_user.id}"

    if crm_pay is not None:
        host.config.update(crm_pay)
        CrmPay(host)
    return host


def _cookies(resp: Any) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for header in resp.headers.getlist("Set-Cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            attrs = {k: str(v) for k, v in morsel.items() if v}
            attrs.pop("expires", None)  # a remember cookie's expiry moves with the clock
            found[name] = attrs
    return found


def _answer(resp: Any) -> dict[str, Any]:
    headers = sorted((k, v) for k, v in resp.headers.items() if k not in ("Set-Cookie", "Date"))
    return {
        "status": resp.status_code,
        "body": resp.get_data(as_text=True),
        "headers": headers,
        "cookies": _cookies(resp),
    }


def _host_run(host: Flask) -> list[dict[str, Any]]:
    """The host's own requests, as its users make them."""
    client = host.test_client()
    answers = [
        client.get("/"),
        client.get("/"),
        client.post("/orders", data={"item": "tea", "card": "4111111111111111"}),
        client.get("/no-such-page"),
        client.post("/"),
        client.get("/account"),
        client.post("/login", data={"user": "mallory"}),
        client.post("/login", data={"user": "alice"}),
        client.get("/account"),
        client.get("/pay-day"),  # a host path that starts like crm-pay's prefix
        client.get("/static/shop.js", headers={"Accept-Encoding": "gzip"}),
        client.get("/static/shop.js?v=1", headers={"Accept-Encoding": "gzip"}),
    ]
    try:
        return [_answer(r) for r in answers]
    finally:
        for r in answers:
            r.close()


def _state(host: Flask) -> dict[str, Any]:
    """What of the host an extension could change."""
    root = logging.getLogger()
    return {
        "config": {k: v for k, v in host.config.items() if not k.startswith("CRM_PAY_")},
        "login_manager": host.login_manager,  # type: ignore[attr-defined]
        "user_loader": host.login_manager._user_callback,  # type: ignore[attr-defined]
        "jinja_globals": sorted(host.jinja_env.globals),
        "jinja_filters": sorted(host.jinja_env.filters),
        "jinja_tests": sorted(host.jinja_env.tests),
        "before_request": list(host.before_request_funcs.get(None, [])),
        "after_request": list(host.after_request_funcs.get(None, [])),
        "teardown_request": list(host.teardown_request_funcs.get(None, [])),
        "error_handlers": {
            code: dict(by_class) for code, by_class in host.error_handler_spec[None].items()
        },
        "context_processors": list(host.template_context_processors[None]),
        "record_factory": logging.getLogRecordFactory(),
        "root_filters": list(root.filters),
        "root_handlers": [(h, list(h.filters)) for h in root.handlers],
        "host_logger_filters": list(host.logger.filters),
        "host_logger_handlers": [(h, list(h.filters)) for h in host.logger.handlers],
        "werkzeug_filters": list(logging.getLogger("werkzeug").filters),
    }


@pytest.fixture
def crm_pay_config(db_url: str, sandbox: Any, tmp_path: Path) -> dict[str, Any]:
    """crm-pay's keys of the test configuration, and nothing of Flask's."""
    full = app_config(db_url, sandbox, tmp_path)
    return {k: v for k, v in full.items() if k.startswith("CRM_PAY_")}


@pytest.fixture
def hosts(
    tmp_path: Path, crm_pay_config: dict[str, Any], host_logging: Captured
) -> Iterator[tuple[Flask, Flask]]:
    plain = build_host(tmp_path, "plain", None)
    with_crm_pay = build_host(tmp_path, "with", crm_pay_config)
    upgrade(get_context(with_crm_pay).db)
    yield plain, with_crm_pay
    get_context(with_crm_pay).db.dispose()


def test_the_host_answers_exactly_as_without_crm_pay(
    hosts: tuple[Flask, Flask], host_logging: Captured
) -> None:
    plain, with_crm_pay = hosts
    expected = _host_run(plain)
    plain_log = list(host_logging.lines)
    host_logging.lines.clear()
    got = _host_run(with_crm_pay)
    for number, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"request {number}"
    # the run meant something: the host's session, CSRF-free form, pages and login
    assert [a["status"] for a in got[:10]] == [200, 200, 200, 404, 405, 302, 401, 200, 200, 404]
    assert [a["status"] for a in got[10:]] == [200, 200]
    assert got[10]["body"].startswith("function shop()")  # the host's file, as Flask sends it
    assert got[3]["body"] == "host's own 404 page" and got[4]["body"] == "host's own 405 page"
    assert set(got[0]["cookies"]) == {"host_session"}
    assert got[0]["cookies"]["host_session"]["samesite"] == "Strict"
    assert "httponly" not in got[0]["cookies"]["host_session"]
    assert set(got[7]["cookies"]) == {"host_session", "host_remember"}
    assert got[8]["body"] == "account of alice"
    # the host's log lines went through its own record factory, as the host wrote them
    assert host_logging.lines == plain_log
    assert plain_log == [f"{HOST_LOG} host-factory order for card 4111111111111111"]


def test_the_hosts_configuration_hooks_and_logging_are_unchanged(
    tmp_path: Path, crm_pay_config: dict[str, Any], host_logging: Captured
) -> None:
    host = build_host(tmp_path, "state", None)
    before = _state(host)
    host.config.update(crm_pay_config)
    CrmPay(host)
    try:
        after = _state(host)
        for key, value in before.items():
            assert after[key] == value, key
        # crm-pay's own loggers do redact
        assert any(f for f in logging.getLogger("crm_pay").filters)
    finally:
        get_context(host).db.dispose()


def test_crm_pays_console_works_inside_the_host_with_its_own_cookie(
    hosts: tuple[Flask, Flask],
) -> None:
    _, host = hosts
    create_user(get_context(host), email="agent@example.com", role="agent", password=PASSWORD)
    client = host.test_client()
    client.get("/")  # the host's own session first
    host_cookie = client.get_cookie("host_session")
    assert host_cookie is not None

    page = client.get("/pay/agent/login")
    assert page.status_code == 200
    assert set(_cookies(page)) == {"crm_pay_session"}  # the host's session is not written
    cookie = _cookies(page)["crm_pay_session"]
    assert cookie["path"] == "/pay" and cookie["httponly"] and cookie["samesite"] == "Lax"

    # a crm-pay POST without the token is refused, nothing changes
    refused = client.post(
        "/pay/agent/login", data={"email": "agent@example.com", "password": PASSWORD}
    )
    assert refused.status_code == 400
    assert client.get("/pay/agent/").status_code == 302

    signed_in = client.post(
        "/pay/agent/login",
        data={"email": "agent@example.com", "password": PASSWORD, "csrf_token": _csrf(page.text)},
    )
    assert signed_in.status_code == 302 and "host_session" not in _cookies(signed_in)
    console = client.get("/pay/agent/")
    assert console.status_code == 200 and "agent@example.com" in console.text
    assert client.post("/pay/agent/logout").status_code == 400  # no token: still signed in
    assert client.get("/pay/agent/").status_code == 200

    # the two sessions do not mix: crm-pay's sign-in is not the host's, and back
    assert client.get_cookie("host_session").value == host_cookie.value  # type: ignore[union-attr]
    assert client.get("/account").status_code == 302
    assert client.post("/login", data={"user": "alice"}).status_code == 200
    assert client.get("/account").text == "account of alice"
    assert client.get("/pay/agent/").status_code == 200
    assert client.post("/orders", data={"item": "cake"}).text == "order cake taken"

    # another browser with only the host's login gets no console
    other = host.test_client()
    other.post("/login", data={"user": "alice"})
    assert other.get("/pay/agent/").status_code == 302


def test_crm_pays_api_errors_stay_in_its_envelope_inside_the_host(
    hosts: tuple[Flask, Flask],
) -> None:
    _, host = hosts
    client = host.test_client()
    missing = client.get("/pay/api/v1/no-such-endpoint")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    outside = client.get("/pay/api/v2/anything")
    assert outside.status_code == 404 and outside.get_json()["error"]["code"] == "not_found"
    wrong = client.delete("/pay/api/v1/customers/CUST-0001")
    assert wrong.status_code == 405 and wrong.get_json()["error"]["code"] == "method_not_allowed"
    assert {m.strip() for m in wrong.headers["Allow"].split(",")} == {"GET", "HEAD", "OPTIONS"}
