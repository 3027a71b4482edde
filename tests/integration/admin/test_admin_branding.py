"""The admin sets the customer pages' logo, accent colour and support contact; the pay
page, the closed-link page and the portal show them. A colour too light for white button
text, an image that is not PNG/JPEG, a card number in a field or a missing CSRF token
saves nothing. Admin role only; every save audited."""

from __future__ import annotations

import io
import re

from flask.testing import FlaskClient
from sqlalchemy import select

from crm_pay.persistence.models import AuditEntry, MerchantBrandingVersion
from crm_pay.services.context import Context
from paytest import create_link, csrf_of, tiny_png

PAGE = "/pay/admin/branding/"


def _save(admin: FlaskClient, *, logo: bytes | None = None, **fields: str):  # type: ignore[no-untyped-def]
    data: dict[str, object] = {"csrf_token": csrf_of(admin.get(PAGE).text), **fields}
    if logo is not None:
        data["logo"] = (io.BytesIO(logo), "logo.png")
    return admin.post(PAGE, data=data, content_type="multipart/form-data", follow_redirects=True)


def _versions(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        return len(s.scalars(select(MerchantBrandingVersion.id)).all())


def test_the_admin_brands_the_customer_pages(
    admin: FlaskClient, client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    logo = tiny_png()
    page = _save(
        admin,
        logo=logo,
        colour="#1A4D2E",
        support_phone="+44 20 7946 0111",
        support_email="care@harbour.example",
        support_hours="Mon–Fri 9:00–17:00",
    )
    assert "Branding version 1 saved" in page.text
    _, created = create_link(client, auth, amount="10.00")
    pay_page = client.get("/pay/p/" + created["pay_url"].rsplit("/p/", 1)[1]).text
    for html in (pay_page, client.get("/pay/p/no-such-link").text):
        logo_src = re.search(r'class="brand-logo"><img src="([^"]+)"', html)
        theme = re.search(r'<link rel="stylesheet" href="([^"]*/brand/theme/[^"]+)"', html)
        assert logo_src and theme, html
        assert "care@harbour.example" in html and "+44 20 7946 0111" in html
        assert "Mon–Fri 9:00–17:00" in html
    served = client.get(logo_src.group(1))
    assert served.data == logo and served.mimetype == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in served.headers["Cache-Control"]
    css = client.get(theme.group(1))
    assert css.mimetype == "text/css" and "#1a4d2e" in css.text

    # a second save keeps the logo (same file name, still cached) and changes the colour
    _save(admin, colour="#7a1f1f", support_email="care@harbour.example")
    html = client.get("/pay/p/no-such-link").text
    assert logo_src.group(1) in html
    assert "/brand/theme/2.css" in html and client.get("/pay/brand/theme/1.css").status_code == 404
    with ctx.db.transaction() as s:
        saved = s.scalars(select(AuditEntry).where(AuditEntry.action == "branding.saved")).all()
        assert len(saved) == 2 and all(e.actor.startswith("user:") for e in saved)
    assert 'data-version="2"' in admin.get(PAGE).text


def test_what_would_hurt_customers_is_refused_and_nothing_saved(
    admin: FlaskClient, ctx: Context
) -> None:
    refusals = {
        "too light": (_save(admin, colour="#ffd966"), "too light"),
        "not a colour": (_save(admin, colour="green"), "six hex digits"),
        "svg": (_save(admin, logo=b"<svg onload='alert(1)'/>"), "PNG or JPEG"),
        "card number": (
            _save(admin, support_hours="call 4111 1111 1111 1111"),
            "looks like a card number",
        ),
        "e-mail": (_save(admin, support_email="not-an-address"), "not an e-mail address"),
    }
    for name, (page, words) in refusals.items():
        assert "Nothing was saved" in page.text and words in page.text, name
        assert "4111 1111 1111 1111" not in page.text
    no_csrf = admin.post(PAGE, data={"colour": "#1a4d2e"})
    assert no_csrf.status_code in (400, 403)
    assert _versions(ctx) == 0


def test_only_admins_reach_the_branding_page(agent: FlaskClient, ctx: Context) -> None:
    assert agent.get(PAGE).status_code == 403
    assert agent.post(PAGE, data={"colour": "#1a4d2e"}).status_code in (400, 403)
    assert _versions(ctx) == 0
