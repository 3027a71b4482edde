"""Keeping payment methods in the sandbox's vault beyond ``PaymentMethod.create`` of a card:
wallets (``wallet_nonces``) and a sale's ``options.store_in_vault_on_success``; and
taking one out again (``PaymentMethod.delete``).

Callers hold ``state.lock``.
"""

from __future__ import annotations

import secrets
from typing import Any

from .cards import CardDetails
from .records import fail
from .state import SandboxState
from .wallet_nonces import (
    ONE_TIME_PAYPAL_ERROR,
    WALLET_NONCES,
    Wallet,
    vault_record,
    wallet_of_record,
)

__all__ = ["delete_from_vault", "store_in_vault", "vault_wallet", "wallet_of_sale"]


def vault_wallet(state: SandboxState, nonce: str, customer_id: str | None) -> dict[str, Any]:
    """``PaymentMethod.create`` with a static wallet nonce; a one-time PayPal nonce is
    refused with 82902 (see ``wallet_nonces``)."""
    if not WALLET_NONCES[nonce].vaultable:
        raise fail(*ONE_TIME_PAYPAL_ERROR)
    record = vault_record(nonce, state.unique_id(state.vault), customer_id)
    state.vault[record["token"]] = record
    state.save()
    return record


def wallet_of_sale(state: SandboxState, params: dict[str, Any]) -> Wallet | None:
    """The wallet a sale pays with: a wallet nonce, or a vaulted wallet's token."""
    nonce = params.get("payment_method_nonce")
    if nonce:
        return WALLET_NONCES.get(str(nonce))
    record = state.vault.get(str(params.get("payment_method_token") or ""))
    return wallet_of_record(record) if record else None


def store_in_vault(
    state: SandboxState, params: dict[str, Any], card: CardDetails, wallet: Wallet | None
) -> str | None:
    """A successful sale's ``options.store_in_vault_on_success``: its payment method kept
    for the customer (``customer_id``, else a new customer id) and its token returned
    for the sale's ``credit_card``/wallet element (braintree_python tests/integration/
    test_transaction.py::test_create_can_store_customer_and_credit_card_in_the_vault_on_
    success). A one-time PayPal account is not kept, its token stays None
    (::test_creating_paypal_transaction_with_one_time_use_nonce_and_store_in_vault). The
    sandbox keeps no customer records, so any ``customer_id`` is taken as it is. A sale
    with a token already vaulted keeps that token."""
    if params.get("payment_method_token"):
        return str(params["payment_method_token"])
    # Braintree's generated customer ids are digits (the test above: ``\A\d{6,}\Z``).
    customer_id = str(params.get("customer_id") or "") or str(secrets.randbelow(10**9)).zfill(9)
    token = state.unique_id(state.vault)
    if wallet is not None:
        if not wallet.vaultable:
            return None
        state.vault[token] = vault_record(str(params["payment_method_nonce"]), token, customer_id)
    else:
        state.vault[token] = dict(
            card.to_dict(), token=token, customer_id=customer_id, three_d_secure=""
        )
    return token


def delete_from_vault(state: SandboxState, token: str) -> bool:
    """``PaymentMethod.delete``: the payment method is gone, a later ``PaymentMethod.find``
    of it is a 404 (braintree_python tests/integration/test_payment_method.py::
    test_delete_deletes_a_credit_card, and ::test_delete_deletes_a_paypal_account for a
    wallet). False when the vault has no such token, which Braintree answers with 404
    (the SDK raises ``NotFoundError``, braintree/util/http.py)."""
    if state.vault.pop(token, None) is None:
        return False
    state.save()
    return True
