"""crm_pay.http_headers: the one builder of page security headers (console, pay page,
receipts portal) spells every header the same way, whatever each page allows."""

from __future__ import annotations

from flask import Response

from crm_pay.http_headers import content_security_policy, secure_page_headers


def test_policy_keeps_order_and_leaves_out_unneeded_directives() -> None:
    policy = content_security_policy(
        [("default-src", "'none'"), ("frame-src", None), ("img-src", "'self' data: ")]
    )
    assert policy == "default-src 'none'; img-src 'self' data:"


def test_page_headers_are_nosniff_no_store_with_the_pages_referrer_policy() -> None:
    resp = secure_page_headers(
        Response("x"), csp="default-src 'none'", referrer="no-referrer", robots="noindex"
    )
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Robots-Tag"] == "noindex"


def test_no_policy_keeps_the_answers_own() -> None:
    resp = Response("{}", mimetype="application/json")
    resp.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    secure_page_headers(resp, csp=None, referrer="same-origin")
    assert resp.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert "X-Robots-Tag" not in resp.headers
