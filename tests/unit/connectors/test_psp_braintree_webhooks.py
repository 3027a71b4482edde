"""BraintreeGateway.parse_webhook: verification fails closed, mapping is exact."""

from __future__ import annotations

from base64 import encodebytes
from datetime import UTC, datetime

import braintree
import pytest
from braintree.util.crypto import Crypto

from connectors.psp.braintree import BraintreeGateway
from crm_pay.domain.errors import WebhookRejected
from crm_pay.domain.money import Money
from crm_pay.ports import PspTxnStatus

PUBLIC, PRIVATE = "hook_public", "hook_private"


@pytest.fixture
def gateway() -> BraintreeGateway:
    return BraintreeGateway.for_local_sandbox(
        "http://127.0.0.1:9", merchant_id="m1", public_key=PUBLIC, private_key=PRIVATE
    )


def signed(xml: str, *, public: str = PUBLIC, private: str = PRIVATE) -> tuple[str, str]:
    """(bt_signature, bt_payload) the way Braintree signs them."""
    payload = encodebytes(xml.encode()).decode()
    return f"{public}|{Crypto.sha1_hmac_hash(private, payload)}", payload


def sdk_sample(kind: str, subject_id: str) -> tuple[str, str]:
    config = braintree.Configuration(
        environment="sandbox", merchant_id="m1", public_key=PUBLIC, private_key=PRIVATE
    )
    sample = braintree.BraintreeGateway(config).webhook_testing.sample_notification(
        kind, subject_id
    )
    return sample["bt_signature"], sample["bt_payload"].decode()


SETTLED_CARD = """<notification>
  <timestamp type="datetime">2026-03-03T02:00:00Z</timestamp>
  <kind>transaction_settled</kind>
  <subject>
    <transaction>
      <id>7x9kq2ab</id>
      <status>settled</status>
      <type>sale</type>
      <currency-iso-code>USD</currency-iso-code>
      <amount>12.34</amount>
      <order-id>pay_01HX-1</order-id>
      <processor-response-code>1000</processor-response-code>
      <credit-card>
        <bin>555555</bin>
        <last-4>4444</last-4>
        <card-type>MasterCard</card-type>
        <expiration-month>06</expiration-month>
        <expiration-year>2029</expiration-year>
      </credit-card>
    </transaction>
  </subject>
</notification>"""


def test_transaction_settled_is_mapped_exactly(gateway: BraintreeGateway) -> None:
    note = gateway.parse_webhook(*signed(SETTLED_CARD))
    assert note.kind == "transaction_settled"
    assert note.timestamp == datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    assert note.event_id == "transaction_settled:7x9kq2ab:2026-03-03T02:00:00+00:00"
    txn = note.transaction
    assert txn is not None
    assert (txn.id, txn.status, txn.amount, txn.order_id) == (
        "7x9kq2ab",
        PspTxnStatus.SETTLED,
        Money(1234, "USD"),
        "pay_01HX-1",
    )
    assert txn.card is not None
    assert (txn.card.brand, txn.card.last4, txn.card.bin) == ("MasterCard", "4444", "555555")


def test_event_id_is_stable_across_replays(gateway: BraintreeGateway) -> None:
    signature, payload = sdk_sample("transaction_settlement_declined", "txn42")
    first = gateway.parse_webhook(signature, payload)
    again = gateway.parse_webhook(signature, payload)
    assert first.event_id == again.event_id
    assert first.event_id.startswith("transaction_settlement_declined:txn42:")
    assert first.transaction is not None
    assert first.transaction.status is PspTxnStatus.SETTLEMENT_DECLINED
    assert first.transaction.card is None  # a bank account, not a card


def test_dispute_opened(gateway: BraintreeGateway) -> None:
    note = gateway.parse_webhook(*sdk_sample("dispute_opened", "dsp_9"))
    assert note.kind == "dispute_opened"
    assert note.dispute_id == "dsp_9"
    assert note.dispute_amount == Money(10000, "USD")
    assert note.event_id.startswith("dispute_opened:dsp_9:")
    # Braintree sends a summary of the disputed transaction, not its status.
    assert note.transaction is not None
    assert note.transaction.id == "dsp_9"
    assert note.transaction.status is PspTxnStatus.OTHER


def test_check_notification(gateway: BraintreeGateway) -> None:
    note = gateway.parse_webhook(*sdk_sample("check", ""))
    assert note.kind == "check"
    assert note.transaction is None


GOOD_SIGNATURE, GOOD_PAYLOAD = signed(SETTLED_CARD)


@pytest.mark.parametrize(
    ("signature", "payload"),
    [
        (signed(SETTLED_CARD, private="someone_else")[0], GOOD_PAYLOAD),
        signed(SETTLED_CARD, public="other_public"),
        (GOOD_SIGNATURE, signed(SETTLED_CARD.replace("12.34", "1.00"))[1]),
        ("", GOOD_PAYLOAD),
        (GOOD_SIGNATURE, GOOD_PAYLOAD + "\u00e9"),
        (GOOD_SIGNATURE, ""),
    ],
    ids=["wrong-key", "other-public-key", "tampered", "no-signature", "non-ascii", "empty"],
)
def test_unverified_webhooks_are_rejected(
    gateway: BraintreeGateway, signature: str, payload: str
) -> None:
    with pytest.raises(WebhookRejected):
        gateway.parse_webhook(signature, payload)


def test_signed_but_undecodable_payload_is_rejected(gateway: BraintreeGateway) -> None:
    with pytest.raises(WebhookRejected, match="decoded"):
        gateway.parse_webhook(*signed("<notification><kind>oops"))
