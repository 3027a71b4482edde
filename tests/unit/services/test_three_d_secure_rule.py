"""The merchant's 3-D Secure rule through the services with a fake PSP: what the pay
page is asked to run, what the sale asks of the PSP, and what the check gave on the
payment, the agent's view and the receipt."""

from __future__ import annotations

import dataclasses

import pytest

from crm_pay.domain.errors import ConfigurationError
from crm_pay.domain.three_d_secure import check_words
from crm_pay.services import views
from crm_pay.services.access import Principal
from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.receipts import get_receipt
from crm_pay.testing import FakeWorld
from servicetest import link, token_of

AUTHENTICATED = "fake-three-d-secure-visa-full-authentication-nonce"
FAILED = "fake-three-d-secure-visa-failed-authentication-nonce"
ADMIN = Principal(kind="user", id=1, name="admin@example.com", role="admin")


def _rule(world: FakeWorld, **settings: object) -> None:
    world.ctx.config = dataclasses.replace(world.ctx.config, **settings)  # type: ignore[arg-type]


def test_off_by_default_no_check_is_asked_for(world: FakeWorld) -> None:
    view = link(world.ctx, "100.00")
    assert views.pay_link_view(world.ctx, token_of(view))["three_d_secure"] is None
    pay_with_nonce(world.ctx, token_of(view), "fake-valid-nonce")
    (sale,) = world.psp.calls_to("sale")
    assert sale.three_d_secure_required is False


def test_required_for_the_currency_asks_the_page_and_the_psp(world: FakeWorld) -> None:
    _rule(world, three_d_secure="off", three_d_secure_by_currency={"usd": "required"})
    view = link(world.ctx, "100.00")
    page = views.pay_link_view(world.ctx, token_of(view))["three_d_secure"]
    assert page == {"mode": "required", "amount": "100.00", "email": page["email"]}
    assert page["email"] and "@" in page["email"]  # the cardholder's, for the bank

    # no liability shift: the PSP refuses it, nothing is charged, the words are true
    refused = pay_with_nonce(world.ctx, token_of(view), FAILED)
    assert refused["status"] == "declined" and refused["captured"] == "0.00"
    assert refused["decline"]["category"] == "authentication_failed"
    assert "complete their bank's check" in refused["decline"]["next_step"]
    assert refused["three_d_secure"]["status"] == "authenticate_failed"
    assert refused["pay_link"]["attempts_left"] == 4  # the customer may try again

    paid = pay_with_nonce(world.ctx, token_of(view), AUTHENTICATED)
    assert paid["status"] == "submitted_for_settlement"
    assert paid["three_d_secure"] == {
        "status": "authenticate_successful",
        "liability_shifted": True,
        "words": "Confirmed by the card's bank (3-D Secure)",
    }
    assert [s.three_d_secure_required for s in world.psp.calls_to("sale")] == [True, True]
    _, receipt = get_receipt(world.ctx, paid["receipt_number"], principal=ADMIN)
    assert receipt.bank_check == "Confirmed by the card's bank (3-D Secure)"


def test_attempt_runs_the_check_but_charges_whatever_it_gave(world: FakeWorld) -> None:
    _rule(world, three_d_secure="attempt")
    view = link(world.ctx, "100.00")
    assert views.pay_link_view(world.ctx, token_of(view))["three_d_secure"]["mode"] == "attempt"
    paid = pay_with_nonce(world.ctx, token_of(view), FAILED)
    assert paid["status"] == "submitted_for_settlement"
    assert paid["three_d_secure"]["words"] == "The card's bank did not confirm it (3-D Secure)"


@pytest.mark.parametrize(
    "settings",
    [{"three_d_secure": "always"}, {"three_d_secure_by_currency": {"EUR": "yes"}}],
)
def test_a_rule_that_is_not_one_of_the_three_is_refused_at_start(
    world: FakeWorld, settings: dict[str, object]
) -> None:
    config = dataclasses.replace(world.ctx.config, **settings)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="off, attempt, required"):
        config.validate()


def test_the_words_never_claim_more_than_the_check_gave() -> None:
    assert check_words(None, None) is None
    assert check_words("authenticate_attempt_successful", True).startswith("Confirmed")
    assert "not available" in str(check_words("lookup_not_enrolled", False))
    assert "did not confirm" in str(check_words("challenge_required", False))
    assert check_words("something_new", False) == "The card's bank check ran (3-D Secure)"
