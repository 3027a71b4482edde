"""The PSP webhook endpoint refuses an oversized body before werkzeug parses the form:
a clear 413, nothing read into memory or stored, and a normal notice still works."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import WebhookEvent
from crm_pay.services.context import Context

URL = "/pay/webhooks/braintree"
OVERSIZED = 3 * 256 * 1024 + 1025  # one byte past the bound


def stored(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(WebhookEvent)) or 0)


def test_an_oversized_webhook_is_refused_before_parsing_and_not_stored(
    client: FlaskClient, ctx: Context
) -> None:
    body = b"bt_signature=x&bt_payload=" + b"A" * OVERSIZED
    resp = client.post(URL, data=body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 413
    err = resp.get_json()["error"]
    assert err["code"] == "request_too_large"
    assert "not read or stored" in err["message"]
    assert stored(ctx) == 0


def test_an_oversized_chunked_webhook_is_refused_too(client: FlaskClient, ctx: Context) -> None:
    # No Content-Length: the bounded stream stops the form parser at the limit.
    stream = io.BytesIO(b"bt_signature=x&bt_payload=" + b"A" * OVERSIZED)
    resp = client.post(
        URL,
        input_stream=stream,
        content_type="application/x-www-form-urlencoded",
        headers={"Transfer-Encoding": "chunked"},
        # what a WSGI server that de-chunks the body (werkzeug's, gunicorn) sets
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "request_too_large"
    assert stored(ctx) == 0


def test_a_normal_webhook_still_works(
    client: FlaskClient, ctx: Context, sandbox: SandboxServer
) -> None:
    form = sandbox.webhook_form("check", "")
    resp = client.post(URL, data=form)
    assert resp.status_code == 200, resp.get_json()
    assert stored(ctx) == 1
