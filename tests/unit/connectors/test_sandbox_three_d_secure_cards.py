"""The development sandbox's 3-D Secure test cards: each of Braintree's published numbers
is accepted and its lookup gives the status Braintree's testing pages give for it (the
older series of "3D Secure > Testing and Go Live" and the newer one of "3D Secure >
Testing"); a card off both lists is not enrolled."""

from __future__ import annotations

import pytest

from connectors.psp.braintree_sandbox.cards import describe_test_card
from connectors.psp.braintree_sandbox.three_d_secure_results import card_check, verified_info


@pytest.mark.parametrize(
    ("number", "status"),
    [
        # "3D Secure > Testing and Go Live"
        ("4000000000001000", "authenticate_successful"),
        ("4000000000001018", "authenticate_frictionless_failed"),
        # "3D Secure > Testing", the newer series
        ("4000000000002701", "authenticate_successful"),
        ("4000000000002925", "authenticate_frictionless_failed"),
        ("4000000000002719", "authenticate_attempt_successful"),
        ("4000000000002313", "authenticate_unable_to_authenticate"),
        ("5200000000002235", "authenticate_successful"),
        ("5200000000002276", "authenticate_frictionless_failed"),
        ("5200000000002482", "authenticate_attempt_successful"),
        ("340000000002708", "authenticate_successful"),
        ("340000000002096", "authenticate_frictionless_failed"),
        ("340000000002872", "authenticate_attempt_successful"),
        ("6011000000002117", "authenticate_successful"),
        ("6011000000002364", "authenticate_frictionless_failed"),
        ("6011000000002646", "authenticate_attempt_successful"),
        # not on either list: not enrolled
        ("4111111111111111", "lookup_not_enrolled"),
    ],
)
def test_a_3ds_test_card_gets_the_status_braintree_publishes(number: str, status: str) -> None:
    card = describe_test_card(number, "01", "2030")
    assert card is not None, "the sandbox refused a published test number"
    check = card_check(card)
    assert check.lookup_status == status and not check.challenge
    info = verified_info(check.lookup_status)
    # the liability shift follows the status: only an authentication (or attempt) shifts it
    assert info["liability_shifted"] is (
        status in ("authenticate_successful", "authenticate_attempt_successful")
    )
