"""What a 3-D Secure check gives for each of Braintree's 3DS test cards and nonces.

Pure data and rules, no HTTP (the client API routes are in ``three_d_secure``).

Sources:
- the cards: Braintree docs "3D Secure > Testing and Go Live" (developer.paypal.com/
  braintree/docs/guides/3d-secure/testing-go-live): the Visa 3DS 2 test numbers
  4000000000001000 ... 4000000000001125, one per scenario, each with its ``status``; the
  Mastercard and American Express frictionless success and failure numbers of the same
  table. The docs give expiry 01/(current year + 3); the sandbox takes any future date.
- the liability columns: Braintree docs "Advanced Options > Liability shift" (shifted:
  authentication succeeded; possible: the card was eligible; both false: not eligible)
  and the status table of "Applying 3DS to transactions > 3DS status codes".
- the nonces: braintree_python ``braintree/test/nonces.py`` (``ThreeDSecure*``) and its
  integration tests, which read ``status``, ``liability_shifted``,
  ``liability_shift_possible``, ``enrolled``, ``cavv``, ``xid``, ``eci_flag`` and
  ``three_d_secure_version`` (tests/integration/test_payment_method_nonce.py,
  test_transaction.py::test_find_exposes_three_d_secure_info).

A card that is not on Braintree's 3DS list (e.g. 4111111111111111) is treated as not
enrolled: both liability flags false, as the docs say of a card "ineligible for 3D Secure".
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from .cards import CardDetails

__all__ = [
    "CardCheck",
    "THREE_D_SECURE_NONCES",
    "card_check",
    "info_of",
    "required_but_not_shifted",
    "verified_info",
]

#: status -> (liability_shifted, liability_shift_possible, enrolled, eci_flag)
_STATUSES: dict[str, tuple[bool, bool, str, str]] = {
    "authenticate_successful": (True, True, "Y", "05"),
    "authenticate_attempt_successful": (True, True, "Y", "06"),
    "authenticate_failed": (False, True, "Y", "07"),
    "authenticate_frictionless_failed": (False, True, "Y", "07"),
    "authenticate_rejected": (False, True, "Y", "07"),
    "authenticate_signature_verification_failed": (False, True, "Y", "07"),
    "authenticate_unable_to_authenticate": (False, False, "Y", "07"),
    "authenticate_error": (False, False, "Y", "07"),
    "authentication_unavailable": (False, False, "U", "07"),
    "challenge_required": (False, True, "Y", "07"),
    "lookup_error": (False, False, "U", "07"),
    "lookup_failed_acs_error": (False, False, "U", "07"),
    "lookup_bypassed": (False, False, "B", "07"),
    "lookup_not_enrolled": (False, False, "N", "07"),
}


@dataclass(frozen=True)
class CardCheck:
    """The lookup's answer for a card, and the challenge's when the bank asks for one."""

    lookup_status: str
    challenge_status: str | None = None  # None: frictionless, no challenge shown

    @property
    def challenge(self) -> bool:
        return self.challenge_status is not None


# (BIN, last 4) of each 3DS test card -> its scenario; the numbers are only in cards.py.
_CARDS: dict[tuple[str, str], CardCheck] = {
    ("400000", "1000"): CardCheck("authenticate_successful"),
    ("400000", "1018"): CardCheck("authenticate_frictionless_failed"),
    ("400000", "1026"): CardCheck("authenticate_attempt_successful"),
    ("400000", "1034"): CardCheck("authenticate_unable_to_authenticate"),
    ("400000", "1042"): CardCheck("authenticate_rejected"),
    ("400000", "1059"): CardCheck("authentication_unavailable"),
    ("400000", "1067"): CardCheck("lookup_error"),
    ("400000", "1075"): CardCheck("lookup_failed_acs_error"),
    ("400000", "1083"): CardCheck("lookup_bypassed"),
    ("400000", "1091"): CardCheck("challenge_required", "authenticate_successful"),
    ("400000", "1109"): CardCheck("challenge_required", "authenticate_failed"),
    ("400000", "1117"): CardCheck("authenticate_unable_to_authenticate"),
    ("400000", "1125"): CardCheck("authenticate_error"),
    ("520000", "1005"): CardCheck("authenticate_successful"),
    ("520000", "1013"): CardCheck("authenticate_frictionless_failed"),
    ("340000", "1007"): CardCheck("authenticate_successful"),
    ("340000", "1015"): CardCheck("authenticate_frictionless_failed"),
}
_NOT_ENROLLED = CardCheck("lookup_not_enrolled")


def card_check(card: CardDetails) -> CardCheck:
    """What a lookup of ``card`` gives (not enrolled for a card off the 3DS list)."""
    return _CARDS.get((card.bin, card.last_4), _NOT_ENROLLED)


def verified_info(status: str, *, version: str = "2.2.0") -> dict[str, Any]:
    """The ``three_d_secure_info`` of a check that ended in ``status`` (the SDK's field
    names). ``cavv`` only when authenticated, as an issuer sends it only then."""
    shifted, possible, enrolled, eci = _STATUSES[status]
    authenticated = status in ("authenticate_successful", "authenticate_attempt_successful")
    return {
        "status": status,
        "enrolled": enrolled,
        "liability_shifted": shifted,
        "liability_shift_possible": possible,
        "cavv": "sandbox" + secrets.token_hex(10) if authenticated else None,
        "xid": None,  # 3DS 2 Visa/Mastercard send none (braintree-web verifyPayload docs)
        "ds_transaction_id": "sandbox-ds-" + secrets.token_hex(8),
        "eci_flag": eci,
        "three_d_secure_version": version,
        "three_d_secure_authentication_id": "sandbox_auth_" + secrets.token_hex(8),
    }


def info_of(card: CardDetails) -> dict[str, Any] | None:
    """The 3DS info a nonce carries (None: not 3-D Secured)."""
    if not card.three_d_secure:
        return None
    value = json.loads(card.three_d_secure)
    return value if isinstance(value, dict) else None


def required_but_not_shifted(card: CardDetails, params: dict[str, Any]) -> bool:
    """A sale with ``options.three_d_secure.required`` whose payment method has no
    liability shift: Braintree gateway-rejects it with reason ``three_d_secure``
    (braintree_python tests/integration/test_transaction.py::test_sale_with_three_d_
    secure_option; docs "Advanced Options": to charge a nonce that did not pass 3DS
    "set the required option to false"). A MOTO sale is outside SCA (card-not-present
    orders taken by phone or mail are out of scope of PSD2 strong customer
    authentication), so the sandbox never rejects one for 3DS."""
    options = params.get("options") or {}
    three_d_secure = options.get("three_d_secure") if isinstance(options, dict) else None
    required = isinstance(three_d_secure, dict) and three_d_secure.get("required") in (
        True,
        "true",
    )
    if not required or params.get("transaction_source") == "moto":
        return False
    info = info_of(card)
    return not (info and info.get("liability_shifted") is True)


def _static(status: str, version: str) -> str:
    return json.dumps(verified_info(status, version=version))


_VISA = ("401288", "1881", "Visa")  # CreditCardNumbers.Visa, as the other fake nonces


def _nonce_card(status: str, version: str = "1.0.2") -> CardDetails:
    return CardDetails(*_VISA, "12", "2030", three_d_secure=_static(status, version))


#: Braintree's static 3DS nonces (braintree/test/nonces.py) -> their card and 3DS info.
#: The "ThreeDSecureTwo*" nonces are 3DS 2 (version 2.2.0), the others 3DS 1 (1.0.2).
THREE_D_SECURE_NONCES: dict[str, CardDetails] = {
    "fake-three-d-secure-visa-full-authentication-nonce": _nonce_card("authenticate_successful"),
    "fake-three-d-secure-visa-lookup-timeout-nonce": _nonce_card("lookup_failed_acs_error"),
    "fake-three-d-secure-visa-failed-signature-nonce": _nonce_card(
        "authenticate_signature_verification_failed"
    ),
    "fake-three-d-secure-visa-failed-authentication-nonce": _nonce_card("authenticate_failed"),
    "fake-three-d-secure-visa-attempts-non-participating-nonce": _nonce_card(
        "authenticate_attempt_successful"
    ),
    "fake-three-d-secure-visa-not-enrolled-nonce": _nonce_card("lookup_not_enrolled"),
    "fake-three-d-secure-visa-unavailable-nonce": _nonce_card("authentication_unavailable"),
    "fake-three-d-secure-visa-mpi-lookup-error-nonce": _nonce_card("lookup_error"),
    "fake-three-d-secure-visa-mpi-authenticate-error-nonce": _nonce_card("authenticate_error"),
    "fake-three-d-secure-visa-authentication-unavailable-nonce": _nonce_card(
        "authenticate_unable_to_authenticate"
    ),
    "fake-three-d-secure-visa-bypassed-authentication-nonce": _nonce_card("lookup_bypassed"),
    "fake-three-d-secure-two-visa-successful-frictionless-authentication-nonce": _nonce_card(
        "authenticate_successful", "2.2.0"
    ),
    "fake-three-d-secure-two-visa-successful-step-up-authentication-nonce": _nonce_card(
        "authenticate_successful", "2.2.0"
    ),
    "fake-three-d-secure-two-visa-error-on-lookup-nonce": _nonce_card("lookup_error", "2.2.0"),
    "fake-three-d-secure-two-visa-timeout-on-lookup-nonce": _nonce_card(
        "lookup_failed_acs_error", "2.2.0"
    ),
}
