"""Cards keyed on a phone's keypad, vaulted in the sandbox as Twilio's Braintree Pay
Connector vaults them: the telephony stand-in's ``tokenizer`` hook.

Twilio's Braintree Pay Connector, asked for a reusable token, stores the keyed card in
the merchant's Braintree vault and returns the payment method token (``PaymentToken``)
and the Braintree customer's id (``ProfileId``). Here the stand-in hands over what it
kept of the card (brand, BIN, last 4 and the ``MMYY`` expiry, never the number) and the
card is put on file in this sandbox, so crm-pay can charge the token there.

    with SandboxServer() as braintree, TwilioSandboxServer(
        TwilioSandboxConfig(tokenizer=keypad_tokenizer(braintree))
    ) as twilio: ...
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .cards import card_type_for

__all__ = ["KeyedCard", "keypad_tokenizer"]


class KeyedCard(Protocol):
    """What the telephony stand-in keeps of an accepted card number."""

    @property
    def bin(self) -> str: ...

    @property
    def last4(self) -> str: ...


@dataclass(frozen=True, slots=True)
class _OnFile:
    # the shape ``SandboxServer.register_payment_method`` reads (a CardSummary's)
    brand: str
    last4: str
    exp_month: str
    exp_year: str
    bin: str


def keypad_tokenizer(sandbox: Any) -> Callable[[KeyedCard, str], tuple[str, str]]:
    """A tokenizer for ``TwilioSandboxConfig(tokenizer=...)`` that vaults each keyed card
    in ``sandbox`` (a running :class:`~connectors.psp.braintree_sandbox.SandboxServer`)
    and returns ``(payment method token, customer id)``."""

    def tokenize(card: KeyedCard, expiration_date: str) -> tuple[str, str]:
        # Braintree's generated customer ids are digits; tokens short lower-case words.
        token = "kp" + secrets.token_hex(5)
        customer_id = str(secrets.randbelow(10**9)).zfill(9)
        on_file = _OnFile(
            brand=card_type_for(card.bin),
            last4=card.last4,
            exp_month=expiration_date[:2],
            exp_year="20" + expiration_date[2:],
            bin=card.bin,
        )
        sandbox.register_payment_method(token, on_file, customer_id=customer_id)
        return token, customer_id

    return tokenize
