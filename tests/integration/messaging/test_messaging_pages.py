"""The receipts portal's refusals and the demo mailbox viewer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crm_pay.app import create_app
from crm_pay.current import get_context
from crm_pay.services.context import Context
from crm_pay.worker import make_dispatcher
from paytest import create_link, pay
from vault import tokens


def _portal_url(client: FlaskClient, auth: dict[str, str], ctx: Context) -> str:
    _, p = create_link(client, auth, amount="15.00")
    pay(client, p["pay_url"])
    make_dispatcher(ctx).drain()
    [entry] = ctx.email.list_messages()  # type: ignore[union-attr]
    text = ctx.email.read(entry.message_id).text  # type: ignore[union-attr]
    [url] = re.findall(r"http://shop\.test(/pay/r/\S+)", text)
    return url


def test_an_expired_portal_link_says_so(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    url = _portal_url(client, auth, ctx)
    assert client.get(url).status_code == 200
    base = ctx.clock
    ctx.clock = lambda: base() + timedelta(days=91)  # CRM_PAY_RECEIPT_LINK_TTL is 90 days
    page = client.get(url)
    assert page.status_code == 410
    assert "expired" in page.get_data(as_text=True)
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert client.get(url + "/R-2026-000001.pdf").status_code == 410


def test_a_forged_or_altered_portal_link_is_not_found(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    url = _portal_url(client, auth, ctx)
    body, mac = url.rsplit("/", 1)[1].split(".")
    # the same payload for another customer, with the old signature
    other = url.replace(body, body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB"))
    for bad in (other, url[:-2], "/pay/r/not-a-token", "/pay/r/" + body + "." + mac[::-1]):
        page = client.get(bad)
        assert page.status_code == 404, bad
        assert "not valid" in page.get_data(as_text=True)
    # a link signed with another key (e.g. another installation) is refused too
    forged = tokens.sign({"c": "CUST-0001", "n": "R-2026-000001"}, key=b"k" * 32, expires_in=3600)
    assert client.get(f"/pay/r/{forged}").status_code == 404


def test_the_mailbox_viewer_does_not_exist_outside_demo_mode(client: FlaskClient) -> None:
    assert client.get("/pay/demo/mailbox").status_code == 404
    assert client.get("/pay/demo/mailbox/receipt.R-2026-000001@example.com").status_code == 404


@pytest.fixture
def demo_app(app: Flask) -> Iterator[Flask]:
    """The test app's configuration (same database, same instance folder) in demo mode."""
    config = {k: v for k, v in app.config.items() if k.startswith("CRM_PAY_")}
    config.update(TESTING=True, SECRET_KEY=app.config["SECRET_KEY"], CRM_PAY_DEMO=True)
    demo = create_app(config, instance_path=app.instance_path)
    yield demo
    get_context(demo).db.dispose()


def test_the_demo_mailbox_lists_and_shows_emails_and_texts(demo_app: Flask) -> None:
    from crm_pay.services.access import create_api_key

    ctx = get_context(demo_app)
    client = demo_app.test_client()
    auth = {"Authorization": f"Bearer {create_api_key(ctx, name='t', role='agent')}"}
    _, p = create_link(client, auth, amount="16.00")
    client.post(f"/pay/api/v1/payments/{p['id']}/send-link", json={"channel": "sms"}, headers=auth)
    make_dispatcher(ctx).drain()
    pay(client, p["pay_url"])
    make_dispatcher(ctx).drain()

    index = client.get("/pay/demo/mailbox")
    assert index.status_code == 200
    html = index.get_data(as_text=True)
    assert "Your receipt R-" in html and "+12125550101" in html
    assert "frame-ancestors 'none'" in index.headers["Content-Security-Policy"]

    [entry] = ctx.email.list_messages()  # type: ignore[union-attr]
    page = client.get(f"/pay/demo/mailbox/{entry.message_id}")
    assert page.status_code == 200
    shown = page.get_data(as_text=True)
    assert f'<dd id="message-id">{entry.message_id}</dd>' in shown
    assert '<iframe class="html-body" title="HTML part of the email" sandbox srcdoc="' in shown
    assert "&lt;p&gt;Hello" in shown  # the HTML part is an attribute value, escaped
    assert "http://shop.test/pay/r/" in shown  # its links, listed to click in the demo
    pdf = client.get(f"/pay/demo/mailbox/{entry.message_id}/attachments/0")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Disposition"].startswith("attachment;")
    assert client.get(f"/pay/demo/mailbox/{entry.message_id}/attachments/5").status_code == 404
    assert client.get("/pay/demo/mailbox/nobody@example.com").status_code == 404
