"""The declared script inventory and the CSP report parser, without a database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.psp.braintree import card_entry_for
from connectors.psp.braintree_card_entry import WALLET_COMPONENTS
from crm_pay.domain.errors import ConfigurationError, ValidationError
from crm_pay.ports import CardEntry, CardScript
from crm_pay.services.csp_reports import parse_reports
from crm_pay.services.script_inventory import (
    declare_pay_page_scripts,
    script_origins,
    sri,
    unpinned,
)

OWN = {"pay.js": b"// ours"}
SANDBOX_JS = Path(__file__).parents[2] / "connectors/psp/braintree_sandbox/static/hosted-fields.js"


def declare(environment: str, integrity: dict[str, str] | None = None, source: str = "cdn") -> list:  # type: ignore[type-arg]
    return declare_pay_page_scripts(
        braintree(environment, integrity, source),
        own_bodies=OWN,
        own_url=lambda n: f"/pay/static/{n}",
    )


def braintree(
    environment: str, integrity: dict[str, str] | None = None, source: str = "cdn"
) -> CardEntry:
    return card_entry_for(
        environment,
        source="" if environment == "local" else source,
        assets_url="http://127.0.0.1:8831/",
        js_version="3.111.0",
        js_integrity=integrity,
    )


def test_sri_is_the_browser_s_sha384_form() -> None:
    # SRI of the empty string, as the Subresource Integrity spec's examples compute it.
    assert sri(b"") == ("sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLlb")


def test_development_loads_the_sandbox_stand_in_then_ours() -> None:
    scripts = declare("local")
    assert [(s.url, s.integrity, s.owner) for s in scripts] == [
        (
            "http://127.0.0.1:8831/hosted-fields.js",
            sri(SANDBOX_JS.read_bytes()),  # the file the sandbox serves
            "crm-pay development sandbox",
        ),
        ("/pay/static/pay.js", sri(b"// ours"), "crm-pay"),
    ]
    assert script_origins(scripts) == ["'self'", "http://127.0.0.1:8831"]


NAMES = ["client", "hosted-fields", "data-collector", "three-d-secure"]


def test_braintree_s_cdn_scripts_need_a_pin_each() -> None:
    pins = {name: f"sha384-{i}" + "A" * 63 for i, name in enumerate(NAMES)}
    scripts = declare("production", pins)
    assert [s.name for s in scripts] == [*NAMES, "pay.js"]
    assert scripts[0].url == "https://js.braintreegateway.com/web/3.111.0/js/client.min.js"
    assert script_origins(scripts) == ["'self'", "https://js.braintreegateway.com"]
    # an unpinned or malformed one is left out (the pay page then refuses card entry)
    assert [s.name for s in declare("production", {"client": "md5-x"})] == ["pay.js"]
    assert [s.name for s in declare("production", None)] == ["pay.js"]
    assert unpinned(braintree("production", {"client": pins["client"]})) == NAMES[1:]
    assert unpinned(braintree("production", pins)) == [] == unpinned(braintree("local"))
    assert "CRM_PAY_BRAINTREE_JS_INTEGRITY" in braintree("production").pin_advice


def test_bundled_braintree_web_is_served_by_us_pinned_to_the_file(tmp_path: Path) -> None:
    wallets = [name for _, name, _ in WALLET_COMPONENTS]
    served: dict[str, bytes] = {n: f"// braintree-web {n}".encode() for n in NAMES + wallets}

    def bundled(path: str) -> tuple[str, str]:
        name = path.removeprefix("braintree-web/").removesuffix(".js")
        return f"/pay/static/vendor/{path}", sri(served[name])

    entry = braintree("production", None, source="bundled")
    scripts = declare_pay_page_scripts(
        entry, own_bodies=OWN, own_url=lambda n: f"/pay/static/{n}", bundled=bundled
    )
    assert [(s.name, s.url, s.integrity) for s in scripts[:4]] == [
        (n, f"/pay/static/vendor/braintree-web/{n}.js", sri(served[n])) for n in NAMES
    ]
    # the wallets' components follow, each marked with its wallet (loaded only when offered)
    assert [(s.name, s.wallet) for s in scripts[4:-1]] == [(n, w) for w, n, _ in WALLET_COMPONENTS]
    assert not scripts[4].loads_with([]) and scripts[4].loads_with([scripts[4].wallet])
    # nothing for the operator to pin, and no third-party script origin for our scripts
    assert unpinned(entry) == [] and entry.pin_advice == ""
    assert script_origins(scripts) == ["'self'"]
    # what braintree-web loads by itself: the data collector's script, Cardinal's songbird
    assert "https://c.paypal.com" in entry.script_origins
    assert "https://songbird.cardinalcommerce.com" in entry.script_origins


def test_wallets_run_with_braintree_web_only_and_add_origins_of_their_own() -> None:
    # the demo's stand-in client has no wallet components: its page offers cards only
    assert braintree("local").wallets == ()
    entry = braintree("production", None, source="bundled")
    by_wallet = {w.wallet: w for w in entry.wallets}
    assert set(by_wallet) == {w for w, _, _ in WALLET_COMPONENTS}
    # Google's pay.js is loaded at run time (no stable hash to pin): only its origin
    assert by_wallet["google_pay"].script_origins == ("https://pay.google.com",)
    assert "https://pay.google.com" not in entry.script_origins + entry.frame_origins
    # a wallet's component without a pin (cdn) turns the wallet off, not card entry
    pins = {name: "sha384-" + "A" * 64 for name in NAMES}
    assert unpinned(braintree("production", pins)) == []
    assert [s.name for s in declare("production", pins)] == [*NAMES, "pay.js"]


def test_the_stand_in_is_refused_outside_the_local_sandbox() -> None:
    with pytest.raises(ConfigurationError, match="only with the local development sandbox"):
        card_entry_for("production", source="stand-in")
    with pytest.raises(ConfigurationError, match="bundled, cdn, stand-in"):
        card_entry_for("sandbox", source="npm")


def test_another_psp_s_scripts_come_from_its_card_entry_alone() -> None:
    theirs = CardScript("sdk", "https://js.psp.example/v2/sdk.js", "2", "sha512-x", "SDK", "PSP")
    scripts = declare_pay_page_scripts(
        CardEntry(scripts=(theirs,)), own_bodies=OWN, own_url=lambda n: f"/p/{n}"
    )
    assert [(s.name, s.owner) for s in scripts] == [("sdk", "PSP"), ("pay.js", "crm-pay")]
    assert script_origins(scripts) == ["'self'", "https://js.psp.example"]
    # no PSP scripts at all (a PSP whose fields need none): only ours
    assert [s.name for s in declare_pay_page_scripts(CardEntry(), own_bodies=OWN,
                                                     own_url=str)] == ["pay.js"]  # fmt: skip


def test_a_report_keeps_no_token_no_query_and_no_card_number() -> None:
    body = json.dumps(
        {
            "csp-report": {
                "document-uri": "https://shop.test/pay/p/secret-token?x=1#f",
                "violated-directive": "script-src-elem 'self'",
                "blocked-uri": "https://evil.example/s.js?card=4111111111111111",
                "script-sample": "4111-1111-1111-1111",
            }
        }
    ).encode()
    (v,) = parse_reports(body, "application/csp-report", pay_path="/pay/p/")
    assert v.page == "pay_page"
    assert v.document == "https://shop.test/pay/p/<token>"
    assert v.directive == "script-src-elem"
    assert v.blocked == "https://evil.example/s.js"
    assert "4111" not in v.sample and v.card_number_redacted


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"null", b"42", b'"x"', b'{"csp-report": []}', b"[1]", b'[{"body": 3}]'],
)
def test_anything_else_is_a_clear_400(body: bytes) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_reports(body, "application/reports+json", pay_path="/pay/p/")
    assert caught.value.status == 400 and "nothing was stored" in caught.value.message
