"""What the agent sees of how a customer paid and of the cards the customer saved on the
pay page: the wallet in the payment history ("Apple Pay · Visa ending 1881"), and a
saved card among the cards on file with who saved it, when and the exact words shown.
Against the development Braintree sandbox, through the services the pay page calls."""

from __future__ import annotations

from flask.testing import FlaskClient

from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.context import Context
from crm_pay.services.saved_cards import SaveCardConsent, consent_wording
from paytest import create_link, token_of


def test_a_card_saved_on_the_pay_page_shows_with_its_consent(
    agent: FlaskClient, client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _, created = create_link(client, auth, amount="12.00")
    wording = consent_wording(ctx)
    answer = pay_with_nonce(
        ctx,
        token_of(created["pay_url"]),
        "fake-valid-mastercard-nonce",
        save_card=SaveCardConsent(wording, "en"),
    )
    assert answer["status"] == "submitted_for_settlement"

    html = agent.get("/pay/agent/customers/CUST-0001").text

    assert "MasterCard ending 4444" in html
    assert "Saved by Eleanor Whitfield on the pay link" in html
    assert f'<q lang="en">{wording}</q>' in html
    assert "555555" not in html  # not even the BIN


def test_a_wallet_payment_reads_as_the_wallet_in_the_history(
    agent: FlaskClient, client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _, created = create_link(client, auth, amount="12.00")
    answer = pay_with_nonce(ctx, token_of(created["pay_url"]), "fake-apple-pay-visa-nonce")

    html = agent.get("/pay/agent/customers/CUST-0001").text

    assert answer["method"].startswith("Apple Pay · Visa ending ")
    assert f'<span class="method">{answer["method"]}</span>' in html
