"""The wallets a customer can pay with on the pay page, and how a payment method reads.

Pure: the names and the words only. Which wallets a merchant account offers is the
admin's choice (:mod:`crm_pay.services.wallets`); what the PSP told of the wallet
(brand, last 4, a masked account) arrives in :class:`crm_pay.ports.CardSummary`.
"""

from __future__ import annotations

__all__ = ["WALLETS", "WALLET_NAMES", "method_label"]

#: Every wallet crm-pay knows, in the order the pay page shows them.
WALLETS: tuple[str, ...] = ("apple_pay", "google_pay", "paypal", "venmo")

#: The wallet's name as its owner writes it (shown to customers and agents).
WALLET_NAMES: dict[str, str] = {
    "apple_pay": "Apple Pay",
    "google_pay": "Google Pay",
    "paypal": "PayPal",
    "venmo": "Venmo",
}


def method_label(
    brand: str | None,
    last4: str | None,
    wallet: str | None = None,
    account: str | None = None,
) -> str:
    """How a payment method reads on a receipt and to the agent: ``"Visa ending 1111"``,
    ``"Apple Pay · Visa ending 1881"``, ``"PayPal · p***@example.com"``,
    ``"Venmo · @venmojoe"``. Only the last 4 digits of a card are ever shown, and a
    wallet account only as the PSP adapter masked it."""
    card = f"{brand} ending {last4}" if brand and last4 else None
    if wallet:
        name = WALLET_NAMES.get(wallet, wallet.replace("_", " ").title())
        detail = card or account
        return f"{name} · {detail}" if detail else name
    return card or "Card"
