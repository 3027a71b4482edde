"""With Braintree's own client from its CDN (``CRM_PAY_BRAINTREE_JS_SOURCE=cdn``), the
pay page loads only pinned scripts with Subresource Integrity, and its CSP allows exactly
Braintree's origins and those its library loads by itself. (The default ``bundled``
source is tested in tests/integration/admin/test_admin_pay_page_scripts.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connectors.psp.braintree import BraintreeGateway, card_entry_for
from connectors.psp.braintree_http import local_environment
from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.app import create_app, env_value
from crm_pay.current import get_context
from crm_pay.persistence.migrate import upgrade
from crm_pay.services.access import create_api_key
from crm_pay.wiring import braintree_merchant_accounts, braintree_psp
from paytest import SANDBOX, create_link, token_of

HASHES = {
    "client": "sha384-" + "A" * 64,
    "hosted-fields": "sha384-" + "B" * 64,
    "data-collector": "sha384-" + "C" * 64,
    "three-d-secure": "sha384-" + "D" * 64,
}


@pytest.fixture
def built() -> Iterator[list[Flask]]:
    apps: list[Flask] = []
    yield apps
    for app in apps:  # close their database connections (PostgreSQL warns otherwise)
        get_context(app).db.dispose()


def production_like(
    db_url: str, sandbox: SandboxServer, tmp_path: Path, pins: dict[str, str] | None = None
) -> Flask:
    from paytest import app_config

    # The real gateway is not reachable from here: the client token still comes from the
    # local sandbox; only the page's scripts and CSP are Braintree's.
    app = create_app(
        app_config(db_url, sandbox, tmp_path), instance_path=str(tmp_path / "instance")
    )
    ctx = get_context(app)
    upgrade(ctx.db)
    # Braintree's production hosted fields (the adapter's CardEntry: its scripts with
    # their pins and the pay page's frame-src/connect-src) on a gateway that still talks
    # to the sandbox.
    ctx.psp = BraintreeGateway(
        environment=local_environment(sandbox.gateway_url),
        merchant_id=SANDBOX["merchant_id"],
        public_key=SANDBOX["public_key"],
        private_key=SANDBOX["private_key"],
        merchant_accounts=braintree_merchant_accounts(dict(app.config)),
        card_entry=card_entry_for(
            "production", source="cdn", js_version="3.111.0", js_integrity=pins
        ),
    )
    return app


def _link(app: Flask) -> tuple[FlaskClient, str]:
    client = app.test_client()
    key = create_api_key(get_context(app), name="t", role="agent")
    _, payment = create_link(client, {"Authorization": f"Bearer {key}"}, amount="10.00")
    return client, token_of(payment["pay_url"])


def test_pinned_scripts_with_integrity_and_a_strict_csp(
    db_url: str, sandbox: SandboxServer, tmp_path: Path, built: list[Flask]
) -> None:
    app = production_like(db_url, sandbox, tmp_path, HASHES)
    built.append(app)
    client, token = _link(app)
    page = client.get(f"/pay/p/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert (
        'src="https://js.braintreegateway.com/web/3.111.0/js/client.min.js" '
        f'integrity="{HASHES["client"]}" crossorigin="anonymous"'
    ) in html
    assert f'hosted-fields.min.js" integrity="{HASHES["hosted-fields"]}"' in html
    assert f'data-collector.min.js" integrity="{HASHES["data-collector"]}"' in html
    assert f'three-d-secure.min.js" integrity="{HASHES["three-d-secure"]}"' in html
    assert sandbox.assets_url not in html  # no development script in production
    csp = page.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    # the inventory's origins (ours for pay.js, Braintree's script host), then what
    # braintree-web loads itself: PayPal's fraud script and Cardinal's songbird
    assert directives["script-src"].split() == [
        "'self'",
        "https://js.braintreegateway.com",
        "https://c.paypal.com",
        "https://songbird.cardinalcommerce.com",
        "https://songbirdstag.cardinalcommerce.com",
    ]
    frames = directives["frame-src"].split()
    assert frames[:2] == ["https://assets.braintreegateway.com", "https://c.paypal.com"]
    assert "https://*.cardinalcommerce.com" in frames
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


def test_without_integrity_hashes_card_entry_is_refused(
    db_url: str, sandbox: SandboxServer, tmp_path: Path, built: list[Flask]
) -> None:
    app = production_like(db_url, sandbox, tmp_path)
    built.append(app)
    client, token = _link(app)
    page = client.get(f"/pay/p/{token}")
    assert page.status_code == 503
    assert b"card-number" not in page.data and b"Nothing was charged" in page.data


def test_integrity_hashes_can_come_from_the_environment() -> None:
    assert env_value("CRM_PAY_BRAINTREE_JS_INTEGRITY", '{"client": "sha384-x"}') == {
        "client": "sha384-x"
    }


def test_the_wiring_gives_the_adapter_the_configured_scripts_and_pins() -> None:
    # CRM_PAY_BRAINTREE_JS_VERSION / _JS_INTEGRITY reach the pay page only through the
    # Braintree adapter's CardEntry, which the registry's factory builds from them.
    config = {
        "CRM_PAY_BRAINTREE_ENVIRONMENT": "production",
        "CRM_PAY_BRAINTREE_MERCHANT_ID": "m1",
        "CRM_PAY_BRAINTREE_PUBLIC_KEY": "pub",
        "CRM_PAY_BRAINTREE_PRIVATE_KEY": "priv",
        "CRM_PAY_BRAINTREE_GATEWAY_URL": "http://127.0.0.1:9",
        "CRM_PAY_BRAINTREE_JS_SOURCE": "cdn",
        "CRM_PAY_BRAINTREE_JS_VERSION": "3.112.1",
        "CRM_PAY_BRAINTREE_JS_INTEGRITY": {"client": HASHES["client"]},
    }
    entry = braintree_psp(config, instance_path="", secret=lambda _: None).card_entry()
    web = "https://js.braintreegateway.com/web/3.112.1/js"
    card = [s for s in entry.scripts if not s.wallet]  # the wallets' components follow
    assert [(s.name, s.url, s.integrity) for s in card] == [
        ("client", f"{web}/client.min.js", HASHES["client"]),
        ("hosted-fields", f"{web}/hosted-fields.min.js", ""),
        ("data-collector", f"{web}/data-collector.min.js", ""),
        ("three-d-secure", f"{web}/three-d-secure.min.js", ""),
    ]
    assert "for version 3.112.1" in entry.pin_advice
    assert entry.frame_origins[0] == "https://assets.braintreegateway.com"
    # without a source, production serves the bundled copy: nothing to pin
    del config["CRM_PAY_BRAINTREE_JS_SOURCE"]
    bundled = braintree_psp(config, instance_path="", secret=lambda _: None).card_entry()
    assert [s.bundled for s in bundled.scripts if not s.wallet] == [
        f"braintree-web/{n}.js" for n in HASHES
    ]
    assert bundled.pin_advice == ""
