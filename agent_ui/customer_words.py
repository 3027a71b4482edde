"""The words of the customer pages that are made in Python, as message ids.

The services and the domain speak English and know nothing of Babel; their words a
customer sees are translated at the edge (:func:`agent_ui.i18n.customer_message`): a
service error by its ``code`` (:data:`SERVICE_ERROR_WORDS`), the decline advice and the
closed-link words by their English text, which is their message id. :data:`MESSAGE_IDS`
lists them all, for the catalogs (``agent_ui/i18n_catalogs.py``); the templates' own ids
are extracted from the templates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from crm_pay.domain.declines import DeclineCategory, advice_for, customer_next_step
from crm_pay.services.pay_links import closed_message

__all__ = ["MESSAGE_IDS", "N_", "PAGE_TITLES", "PAY_SCRIPT_WORDS", "SERVICE_ERROR_WORDS"]


def N_(msgid: str) -> str:  # noqa: N802 - the gettext name for "mark, translate later"
    """``msgid`` itself: marks words to translate where they are shown."""
    return msgid


# A service error a customer page shows, by its code: the words in the customer's
# language. In English the service's own message is shown, as it always was.
SERVICE_ERROR_WORDS: Final[Mapping[str, str]] = {
    "not_found": N_("This payment link is not valid. Please ask us for a new one."),
    "receipt_link_invalid": N_("This receipts link is not valid."),
    "receipt_link_expired": N_(
        "This receipts link has expired. Please ask us to send your receipt again."
    ),
    "receipt_not_found": N_("This receipt is not one of the receipts of this link."),
    "survey_link_invalid": N_("This survey link is not valid."),
    "survey_link_expired": N_("This survey has closed. Thank you all the same."),
    "survey_score": N_("Please choose a score from 1 to 5."),
    "survey_comment_too_long": N_("The comment is too long. Please shorten it."),
    "survey_answered": N_(
        "This payment's survey has been answered already. Thank you: one answer is enough."
    ),
    "reminder_link_invalid": N_("This link is not valid."),
    "reminder_link_expired": N_("This link has expired. Contact us and we will help you."),
    "reminder_payment_in_progress": N_(
        "A payment of this invoice is already under way. Please check your email for its "
        "receipt, or try again in a few minutes."
    ),
    "rate_limited": N_(
        "Too many payment attempts in a short time. Nothing was charged. Please wait a "
        "minute, then try again."
    ),
    "payment_page_not_configured": N_(
        "Card payment is not available right now. Nothing was charged; please contact us."
    ),
    "payment_unavailable": N_(
        "We cannot take this payment online right now. Nothing was charged. Please try "
        "again later or contact us."
    ),
}

# What the pay page's script (``static/crm_pay/pay.js``) may say: the page hands it their
# translations in its form's ``data-words`` (:func:`script_words`), as the page's CSP
# allows no inline script.
PAY_SCRIPT_WORDS: Final = (
    N_("This card number doesn't look right. Please check it."),
    N_("Check the expiry date: month and year as printed on the card (MM/YY)."),
    N_(
        "Check the security code: 3 digits on the back of the card "
        "(4 on the front for American Express)."
    ),
    N_("Please enter the postal code of the card's billing address."),
    N_("Please check the fields marked above."),
    N_("Please check the card details."),
    N_("The secure card fields could not be loaded. Please reload the page."),
    # pay_wallets.js
    N_("You closed the wallet. Nothing was charged; choose how you want to pay."),
    N_(
        "The wallet could not finish the payment. Nothing was charged; please try again "
        "or pay by card."
    ),
)

# Page titles the views pass in (``survey.py``).
PAGE_TITLES: Final = (
    N_("This survey link does not work"),
    N_("This payment link does not work"),
    N_("This link does not work"),
)


# The states of a pay link that cannot take a payment (``pay_links.link_state``), and one
# it does not know (its catch-all words).
_CLOSED_STATES: Final = ("cancelled", "used", "processing", "locked", "expired", "other")


def _domain_ids() -> tuple[str, ...]:
    """Customer words made in the domain and the services, translated by their text."""
    from_domain: list[str] = []
    for category in DeclineCategory:
        advice = advice_for(category.value, code="unknown")
        from_domain += [advice.message, customer_next_step(category.value)]
    from_domain += [closed_message(state) for state in _CLOSED_STATES]
    return tuple(dict.fromkeys(from_domain))


MESSAGE_IDS: Final[tuple[str, ...]] = (
    *SERVICE_ERROR_WORDS.values(),
    *PAGE_TITLES,
    *PAY_SCRIPT_WORDS,
    *_domain_ids(),
)
"""Every message id made in Python."""
