"""What a customer's phone fetches from crm-pay for the pay page: every script and style
sheet of ours linked versioned by its content, kept by the browser for good under that
link, sent gzip-compressed; the pinned SRI still matches the bytes once decompressed."""

from __future__ import annotations

import gzip
from html.parser import HTMLParser
from pathlib import Path

from flask import Flask, url_for
from flask.testing import FlaskClient

from connectors.psp.braintree import card_entry_for
from crm_pay.current import get_context
from crm_pay.services.access import create_api_key
from crm_pay.services.script_inventory import content_version, sri
from paytest import create_link, token_of

STATIC = Path(__file__).resolve().parents[3] / "agent_ui" / "static"
PREFIX = "/pay/static/crm_pay_ui/"


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.found.append({"url": found["src"], "integrity": found.get("integrity")})
        if tag == "link" and found.get("rel") == "stylesheet":
            self.found.append({"url": found["href"], "integrity": None})


def _own_assets(client: FlaskClient, app: Flask) -> list[dict[str, str | None]]:
    key = create_api_key(get_context(app), name="t", role="agent")
    _, payment = create_link(client, {"Authorization": f"Bearer {key}"}, amount="10.00")
    page = client.get(f"/pay/p/{token_of(payment['pay_url'])}")
    assert page.status_code == 200
    parser = _Assets()
    parser.feed(page.text)
    return [a for a in parser.found if str(a["url"]).startswith(PREFIX)]


def _bundled(app: Flask) -> None:
    """braintree-web served from our vendor folder (production's default)."""
    ctx = get_context(app)
    ctx.psp.card_entry = lambda: card_entry_for("production", source="bundled")  # type: ignore[method-assign]


def test_every_file_of_ours_on_the_pay_page_is_versioned_cached_and_compressed(
    app: Flask, client: FlaskClient
) -> None:
    _bundled(app)
    assets = _own_assets(client, app)
    names = [str(a["url"]).partition("?")[0].removeprefix(PREFIX) for a in assets]
    assert {"crm_pay/pay.css", "crm_pay/pay.js", "vendor/braintree-web/client.js"} <= set(names)
    assert "vendor/braintree-web/hosted-fields.js" in names
    for asset, name in zip(assets, names, strict=True):
        body = (STATIC / name).read_bytes()
        assert asset["url"] == f"{PREFIX}{name}?v={content_version(body)}"
        with client.get(str(asset["url"]), headers={"Accept-Encoding": "gzip"}) as served:
            assert served.status_code == 200, name
            assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            # no Cookie or Accept-Language variants of a file that is the same for everyone
            vary = served.headers.get("Vary")
            encoding = served.headers.get("Content-Encoding")
            sent = served.data
        if len(body) < 1024:  # a few hundred bytes: sent as they are, whoever asks
            assert encoding is None and vary is None and sent == body, name
            continue
        assert vary == "Accept-Encoding", name
        # what the browser checks the pin against is the decoded body: the file itself
        assert encoding == "gzip", name
        assert gzip.decompress(sent) == body and len(sent) < len(body) / 2, name
        if asset["integrity"] is not None:
            assert asset["integrity"] == sri(body)


def test_a_link_without_the_file_s_version_is_asked_for_again_each_time(
    client: FlaskClient,
) -> None:
    for url in (f"{PREFIX}crm_pay/pay.js", f"{PREFIX}crm_pay/pay.js?v=not-this-file"):
        with client.get(url) as served:
            assert served.status_code == 200
            assert served.headers["Cache-Control"] == "no-cache"
            assert served.data == (STATIC / "crm_pay/pay.js").read_bytes()


def test_the_console_links_its_vendor_scripts_versioned_too(app: Flask) -> None:
    body = (STATIC / "vendor/socket.io.min.js").read_bytes()
    with app.test_request_context():
        link = url_for("crm_pay_console.static", filename="vendor/socket.io.min.js")
    assert link == f"/pay/agent/static/vendor/socket.io.min.js?v={content_version(body)}"
    with app.test_client().get(link) as served:
        assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert served.data == body
