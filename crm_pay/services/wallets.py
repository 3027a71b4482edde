"""Which wallets the pay page offers, per merchant account, as the admin sets them.

crm-pay names a merchant account by its currency: the PSP port has one merchant account
per currency (:attr:`crm_pay.ports.PaymentGateway.currencies`), so "the EUR account" is
what the admin picks, whatever its id at the PSP. Nothing is offered until the admin
turns a wallet on (a wallet also has to be enabled in the PSP's control panel). Every
change is audited with what changed; a refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select

from crm_pay.domain.errors import NotFound, ValidationError
from crm_pay.domain.wallets import WALLETS
from crm_pay.persistence.models import MerchantWallet, Payment

from . import audit
from .context import Context

__all__ = ["enabled_wallets", "offered", "set_wallets", "wallet_offers"]


def _account(ctx: Context, merchant_account: str) -> str:
    code = str(merchant_account or "").strip().upper()
    if code not in ctx.psp.currencies:
        raise ValidationError(
            f"there is no merchant account for {merchant_account!r}; this merchant's "
            f"accounts are {', '.join(ctx.psp.currencies)}",
            code="unknown_merchant_account",
        )
    return code


def enabled_wallets(ctx: Context, merchant_account: str) -> list[str]:
    """The wallets offered for payments in ``merchant_account`` (its currency), in the
    order the pay page shows them; empty for an account the PSP does not have (any
    more): its old choices are kept but offer nothing."""
    code = str(merchant_account or "").strip().upper()
    if code not in ctx.psp.currencies:
        return []
    with ctx.db.transaction() as s:
        found = set(
            s.scalars(
                select(MerchantWallet.wallet).where(MerchantWallet.merchant_account == code)
            ).all()
        )
    return [w for w in WALLETS if w in found]


def offered(ctx: Context, payment_id: str) -> list[str]:
    """The wallet buttons the pay page shows for ``payment_id``: those its merchant
    account (the payment's currency) offers, in display order (``[]``: cards only)."""
    with ctx.db.transaction() as s:
        currency = s.scalar(select(Payment.currency).where(Payment.id == payment_id))
    if currency is None:
        raise NotFound(f"no payment {payment_id!r}")
    return enabled_wallets(ctx, currency)


def wallet_offers(ctx: Context) -> dict[str, list[str]]:
    """Every merchant account (default first) with the wallets it offers, for the admin."""
    with ctx.db.transaction() as s:
        rows = s.execute(select(MerchantWallet.merchant_account, MerchantWallet.wallet)).all()
    chosen: dict[str, set[str]] = {code: set() for code in ctx.psp.currencies}
    for account, wallet in rows:
        if account in chosen:
            chosen[account].add(wallet)
    return {account: [w for w in WALLETS if w in ws] for account, ws in chosen.items()}


def set_wallets(
    ctx: Context, *, merchant_account: str, wallets: Iterable[str], actor: str
) -> list[str]:
    """Offer exactly ``wallets`` for ``merchant_account``; returns them in display
    order. An unknown account or wallet is a ValidationError and nothing changes; a
    choice that changes nothing writes no audit entry."""
    code = _account(ctx, merchant_account)
    wanted = {str(w).strip() for w in wallets}
    unknown = sorted(wanted - set(WALLETS))
    if unknown:
        raise ValidationError(
            f"unknown wallet {unknown[0][:40]!r}; the wallets are {', '.join(WALLETS)}",
            code="unknown_wallet",
        )
    with ctx.db.transaction() as s:
        before = set(
            s.scalars(
                select(MerchantWallet.wallet).where(MerchantWallet.merchant_account == code)
            ).all()
        )
        added, removed = wanted - before, before - wanted
        if removed:
            s.execute(
                delete(MerchantWallet).where(
                    MerchantWallet.merchant_account == code,
                    MerchantWallet.wallet.in_(removed),
                )
            )
        for wallet in sorted(added):
            s.add(
                MerchantWallet(
                    merchant_account=code, wallet=wallet, enabled_by=actor, enabled_at=ctx.now()
                )
            )
        if added or removed:
            audit.record(
                s,
                ctx,
                actor=actor,
                action="wallets.saved",
                subject=f"merchant_account:{code}",
                data={
                    "enabled": ",".join(w for w in WALLETS if w in added),
                    "disabled": ",".join(w for w in WALLETS if w in removed),
                    "offered": ",".join(w for w in WALLETS if w in wanted),
                },
            )
    return [w for w in WALLETS if w in wanted]
