"""CSP violation reports: browsers post them to ``/pay/csp-report`` without cookies; a
violation on the pay page is stored (redacted, deduplicated) and alerts the admin;
anything else gets a clear 4xx and nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crm_pay.persistence.models import Case
from crm_pay.services.cases import open_cases
from crm_pay.services.context import Context

TOKEN = "pl_SecretLinkToken123"
PAGE = f"https://shop.test/pay/p/{TOKEN}"
EVIL = "http://127.0.0.1:9/x.js"
LEGACY = "application/csp-report"
REPORTING = "application/reports+json"


def legacy(**fields: Any) -> bytes:
    report = {
        "document-uri": PAGE,
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "blocked-uri": EVIL,
        "disposition": "enforce",
        "original-policy": "default-src 'none'",
        **fields,
    }
    return json.dumps({"csp-report": report}).encode()


def reporting(**fields: Any) -> bytes:
    body = {
        "documentURL": PAGE,
        "effectiveDirective": "script-src-elem",
        "blockedURL": EVIL,
        "disposition": "enforce",
        **fields,
    }
    return json.dumps([{"type": "csp-violation", "url": PAGE, "age": 3, "body": body}]).encode()


def stored(ctx: Context) -> list[Case]:
    with ctx.db.transaction() as s:
        rows = list(s.scalars(select(Case).where(Case.kind == "csp_violation")))
        s.expunge_all()
    return rows


def test_a_pay_page_violation_is_stored_once_and_alerts_the_admin(
    client: FlaskClient, ctx: Context, admin: FlaskClient
) -> None:
    first = client.post("/pay/csp-report", data=legacy(), content_type=LEGACY)
    assert first.status_code == 204 and first.data == b""
    again = client.post("/pay/csp-report", data=reporting(), content_type=REPORTING)
    assert again.status_code == 204
    rows = stored(ctx)
    assert len(rows) == 1  # one violation, reported twice in the two shapes
    detail = rows[0].detail
    assert detail["count"] == 2
    assert detail["blocked"] == EVIL and detail["directive"] == "script-src-elem"
    # The link token is a secret: it is never stored.
    assert detail["document"] == "https://shop.test/pay/p/<token>"
    assert TOKEN not in json.dumps(detail)
    assert [a["kind"] for a in open_cases(ctx, kinds=frozenset({"csp_violation"}))] == [
        "csp_violation"
    ]
    overview = admin.get("/pay/admin/").text
    assert f"security policy blocked {EVIL} (script-src-elem)" in overview
    page = admin.get("/pay/admin/scripts").text
    assert EVIL in page and "https://shop.test/pay/p/&lt;token&gt;" in page


def test_a_card_number_in_a_report_is_stored_redacted(client: FlaskClient, ctx: Context) -> None:
    sample = "var pan = '4111 1111 1111 1111';"
    resp = client.post(
        "/pay/csp-report",
        data=legacy(**{"script-sample": sample, "blocked-uri": "inline"}),
        content_type=LEGACY,
    )
    assert resp.status_code == 204
    (row,) = stored(ctx)
    text = json.dumps(row.detail)
    assert "4111" not in text and "1111 1111" not in text
    assert "[REDACTED PAN]" in row.detail["sample"]
    assert row.detail["card_number_redacted"] is True


def test_a_card_number_in_a_blocked_url_is_stored_redacted(
    client: FlaskClient, ctx: Context
) -> None:
    resp = client.post(
        "/pay/csp-report",
        data=reporting(blockedURL="https://evil.example/c/4005519200000004.js?x=1"),
        content_type=REPORTING,
    )
    assert resp.status_code == 204
    (row,) = stored(ctx)
    assert "4005519200000004" not in json.dumps(row.detail)
    assert row.detail["blocked"] == "https://evil.example/c/[REDACTED PAN].js"


def test_garbage_gets_400_and_nothing_is_stored(client: FlaskClient, ctx: Context) -> None:
    bodies = [
        (b"not json", LEGACY),
        (b"\xff\xfe", LEGACY),
        (b'{"csp-report": "x"}', LEGACY),
        (b'{"csp-report": {"document-uri": "x"}}', LEGACY),
        (b"[]", REPORTING),
        (b'[{"type": "csp-violation"}]', REPORTING),
        (b'{"a": 1}', REPORTING),
    ]
    for body, kind in bodies:
        resp = client.post("/pay/csp-report", data=body, content_type=kind)
        assert resp.status_code == 400, body
        error = resp.get_json()["error"]
        assert error["code"] == "invalid_csp_report"
        assert "nothing was stored" in error["message"]
    assert stored(ctx) == []


def test_an_oversized_report_gets_413(client: FlaskClient, ctx: Context) -> None:
    big = legacy(**{"script-sample": "x" * (17 * 1024)})
    resp = client.post("/pay/csp-report", data=big, content_type=LEGACY)
    assert resp.status_code == 413
    assert "16 KiB" in resp.get_json()["error"]["message"]
    assert stored(ctx) == []


def test_other_media_types_get_415(client: FlaskClient, ctx: Context) -> None:
    resp = client.post("/pay/csp-report", data=legacy(), content_type="text/plain")
    assert resp.status_code == 415
    assert stored(ctx) == []


def test_reports_about_other_pages_are_taken_but_not_stored(
    client: FlaskClient, ctx: Context
) -> None:
    body = legacy(**{"document-uri": "https://shop.test/pay/agent/"})
    assert client.post("/pay/csp-report", data=body, content_type=LEGACY).status_code == 204
    other_type = json.dumps([{"type": "deprecation", "url": PAGE, "body": {}}]).encode()
    assert client.post("/pay/csp-report", data=other_type, content_type=REPORTING).status_code == (
        204
    )
    assert stored(ctx) == []


@pytest.mark.parametrize("app_settings", [{"CRM_PAY_CSP_REPORTS_PER_MINUTE": 3}])
def test_one_address_is_slowed_down(app: Flask, client: FlaskClient, ctx: Context) -> None:
    codes = [
        client.post(
            "/pay/csp-report", data=legacy(**{"blocked-uri": f"{EVIL}?{n}"}), content_type=LEGACY
        ).status_code
        for n in range(5)
    ]
    assert codes == [204, 204, 204, 429, 429]
    # Another address still gets through.
    other = client.post(
        "/pay/csp-report",
        data=legacy(),
        content_type=LEGACY,
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert other.status_code == 204
