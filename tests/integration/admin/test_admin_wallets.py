"""The admin chooses, per merchant account, the wallets the pay page offers: the boxes
ticked are saved, audited with who and what changed, and followed by what the pay page
is told to show; a request without the CSRF token or for an account the merchant does
not have saves nothing. Admin role only."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import select

from crm_pay.persistence.models import AuditEntry
from crm_pay.services import wallets
from crm_pay.services.context import Context
from paytest import create_link, csrf_of

PAGE = "/pay/admin/wallets/"


def _save(admin: FlaskClient, account: str, *chosen: str, csrf: bool = True):  # type: ignore[no-untyped-def]
    data: dict[str, object] = {"wallet": list(chosen)}
    if csrf:
        data["csrf_token"] = csrf_of(admin.get(PAGE).text)
    return admin.post(f"{PAGE}{account}", data=data, follow_redirects=True)


def _audited(ctx: Context) -> list[AuditEntry]:
    with ctx.db.transaction() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "wallets.saved")))
        s.expunge_all()
        return rows


def test_the_admin_turns_wallets_on_per_account_and_the_pay_page_follows(
    admin: FlaskClient, client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _, created = create_link(client, auth, amount="10.00")
    assert wallets.offered(ctx, created["id"]) == []
    page = admin.get(PAGE).text
    assert 'data-account="USD"' in page and "Apple Pay" in page and "Venmo" in page

    saved = _save(admin, "USD", "paypal", "apple_pay")

    assert "Saved: the USD account offers Apple Pay, PayPal" in saved.text
    assert "on the pay page" in saved.text
    assert wallets.offered(ctx, created["id"]) == ["apple_pay", "paypal"]
    assert 'value="paypal" checked' in saved.text and 'value="venmo" checked' not in saved.text
    (entry,) = _audited(ctx)
    assert entry.actor.startswith("user:") and entry.subject == "merchant_account:USD"

    _save(admin, "USD")  # every box cleared: cards only
    assert wallets.offered(ctx, created["id"]) == []
    assert len(_audited(ctx)) == 2


def test_a_forged_or_wrong_save_changes_nothing(admin: FlaskClient, ctx: Context) -> None:
    _save(admin, "USD", "venmo")

    forged = _save(admin, "USD", "paypal", csrf=False)
    unknown = _save(admin, "CHF", "paypal")
    bogus = _save(admin, "USD", "bitcoin")

    assert forged.status_code in (400, 403)
    assert "there is no merchant account for" in unknown.text
    assert "unknown wallet" in bogus.text
    assert wallets.enabled_wallets(ctx, "USD") == ["venmo"]
    assert len(_audited(ctx)) == 1


def test_only_an_admin_opens_the_wallets_page(signed_in: Callable[..., FlaskClient]) -> None:
    for role in ("agent", "supervisor"):
        assert signed_in(role).get(PAGE).status_code in (302, 403)
