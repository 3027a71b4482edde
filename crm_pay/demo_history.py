"""The demo's sample history: two days of a contact centre's payment operations, made
through the services and the Braintree development sandbox as real use makes them.

``crm-pay demo`` runs :func:`seed_history` once, when it prepares a new instance, so a
newcomer finds the supervisor queue, approvals, disputes, reminders, the dashboard and
CSAT with something in them. Nothing is written around the services: every payment is
recorded before the sandbox is called, every receipt, ledger entry, outbox message and
audit entry is the one the services write.

Dates. The services read the context's clock, so the story runs on a clock of its own
(:class:`HistoryClock`) from yesterday morning (UTC) to now. The sandbox stamps its
transactions with the real time, and reconciliation reads our payments from the day
before the PSP's day and our refunds from the PSP's day: so the story starts no earlier
than yesterday, and what moves money back (the refund) or comes from the PSP (the
dispute) happens today. The dispute comes last, at the real time: its notice reaches the
demo over HTTP from the sandbox, as Braintree's would.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from connectors.crm import BuiltinCrm
from connectors.crm.demo_data import SAMPLE_CARDS, SAMPLE_CUSTOMERS, SAMPLE_INVOICES
from connectors.psp.braintree_sandbox import SandboxServer
from connectors.psp.braintree_sandbox.cards import TEST_CARD_OUTCOMES
from crm_pay.domain.money import Money
from crm_pay.services import approvals, cases, csat, disputes, reminders
from crm_pay.services.access import Principal, list_users
from crm_pay.services.case_views import CaseFilter, case_queue
from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.context import Context
from crm_pay.services.janitor import run_janitor
from crm_pay.services.manual_payments import ManualPayment
from crm_pay.services.notifications import send_pay_link
from crm_pay.services.payments import CreatePayment, create_payment
from crm_pay.services.settlement import check_settlements
from crm_pay.services.webhooks import retry_pending_webhooks

__all__ = ["HistoryClock", "SampleHistory", "history_context", "seed_history"]

# Braintree's published chargeback test card (braintree_python test/credit_card_numbers.py
# Disputes.Chargeback), as the sandbox lists it: a sale with it comes back disputed.
_DISPUTE_CARD = next(
    number for number, outcome in TEST_CARD_OUTCOMES.items() if outcome == "dispute"
)
_INVOICES = {invoice.crm_ref: invoice for invoice in SAMPLE_INVOICES}


class HistoryClock:
    """The story's clock: moved on by hand, never backwards, never past the real time."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def move_to(self, moment: datetime) -> None:
        self.now = min(max(self.now, moment), datetime.now(UTC) - timedelta(seconds=1))

    def advance(self, **delta: float) -> None:
        self.move_to(self.now + timedelta(**delta))


def history_context(ctx: Context) -> tuple[Context, HistoryClock, Callable[[int, float], None]]:
    """A copy of ``ctx`` on the story's clock, that clock, and ``at(day, hour)``: move the
    clock to hour ``hour`` of day 0 (yesterday, 08:00-17:00 UTC) or of day 1 (today: the
    hours up to now, squeezed into what has passed of today)."""
    now = ctx.now()
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    yesterday = today - timedelta(days=1)
    start = max(today, now - timedelta(hours=9)) + timedelta(minutes=1)
    span = max(now - timedelta(minutes=2) - start, timedelta(0))
    clock = HistoryClock(yesterday + timedelta(hours=8))

    def at(day: int, hour: float) -> None:
        if day == 0:
            clock.move_to(yesterday + timedelta(hours=8 + hour))
        else:
            clock.move_to(start + span * min(hour / 9, 1.0))

    return replace(ctx, clock=clock, workers=None), clock, at


@dataclass
class SampleHistory:
    """What the story made, for the demo's one-line summary."""

    payments: int = 0
    declined_first: int = 0
    refunds: int = 0
    cases: Counter[str] = field(default_factory=Counter)
    approvals: int = 0
    reminders: int = 0
    surveys: int = 0
    disputes: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.cases.items()))
        return (
            f"Sample history (yesterday and today): {self.payments} payments "
            f"({self.declined_first} declined first), {self.refunds} refund, "
            f"{sum(self.cases.values())} cases ({kinds}), {self.disputes} dispute, "
            f"{self.approvals} approvals waiting, {self.reminders} reminders, "
            f"{self.surveys} survey answer; seeded in {self.seconds:.1f} s "
            "(crm-pay demo --no-sample-data leaves it out)."
        )


class _Story:
    def __init__(self, ctx: Context, clock: HistoryClock, sandbox: SandboxServer) -> None:
        self.ctx, self.clock, self.sandbox = ctx, clock, sandbox
        users = {u["role"]: u for u in list_users(ctx)}
        self.agent, self.supervisor, self.admin = (
            Principal("user", int(str(users[r]["id"])), str(users[r]["email"]), r)
            for r in ("agent", "supervisor", "admin")
        )
        self.keys = 0
        self.made = SampleHistory()
        self.paid: dict[str, str] = {}  # invoice -> the sample payment for it

    def key(self) -> str:
        self.keys += 1
        return f"demo-sample-{self.keys}"

    def link(
        self, crm_ref: str, ref: str, *, extra: str = "0.00", by: str = "email"
    ) -> dict[str, Any]:
        """The agent creates a pay link for invoice ``ref`` (plus ``extra``) and sends it."""
        total = _INVOICES[ref].total
        amount = total + Money.parse(extra, total.currency)
        return self._create(
            crm_ref, amount.to_decimal_str(), {ref: total.to_decimal_str()}, channel="link", by=by
        )

    def _create(
        self, crm_ref: str, amount: str, allocations: dict[str, str], **how: Any
    ) -> dict[str, Any]:
        body = {"customer": crm_ref, "amount": amount, "allocations": allocations, **how}
        view, _ = create_payment(
            self.ctx,
            CreatePayment(
                crm_ref=crm_ref,
                amount=amount,
                currency="USD",
                channel=how["channel"],
                allocations=allocations,
                payment_method_token=how.get("token"),
                customer_consent=how["channel"] == "vaulted",
            ),
            actor=self.agent.actor,
            idempotency_scope=f"user:{self.agent.id}",
            idempotency_key=self.key(),
            request_hash=approvals.request_hash(body),
        )
        self.made.payments += 1
        self.paid.update(dict.fromkeys(allocations, str(view["id"])))
        if how["channel"] == "link":
            send_pay_link(self.ctx, view["id"], channel=how["by"], actor=self.agent.actor)
        return view

    def customer_pays(self, view: dict[str, Any], *nonces: str) -> dict[str, Any]:
        """The customer opens the link a few minutes later and pays (a declined card first
        when two nonces are given)."""
        token = str(view["pay_url"]).rsplit("/p/", 1)[1]
        self.made.declined_first += len(nonces) > 1
        result: dict[str, Any] = {}
        for nonce in nonces:
            self.clock.advance(minutes=2)
            result = pay_with_nonce(self.ctx, token, nonce)
        return result

    def vaulted(self, crm_ref: str, ref: str, token: str) -> dict[str, Any]:
        """A console payment with the card on file (the customer agreed on the call)."""
        total = _INVOICES[ref].total.to_decimal_str()
        return self._create(crm_ref, total, {ref: total}, channel="vaulted", token=token)

    def case_of(self, kind: str) -> int:
        found = case_queue(self.ctx, CaseFilter(kind=kind, state="all"))
        return int(found[0]["id"])


def seed_history(
    ctx: Context, clock: HistoryClock, at: Callable[[int, float], None], sandbox: SandboxServer
) -> SampleHistory:
    """Write the sample history (see the module docstring) and return what it made.
    ``ctx`` is :func:`history_context`'s, of an app whose background workers are not
    running, served so that the sandbox's dispute notice reaches it."""
    began = time.perf_counter()
    crm = ctx.crm.wrapped_adapter  # type: ignore[attr-defined]
    if not isinstance(crm, BuiltinCrm):
        raise RuntimeError("the sample history needs the builtin CRM")
    for customer in SAMPLE_CUSTOMERS:
        crm.add_customer(customer)
    for invoice in SAMPLE_INVOICES:
        crm.add_invoice(invoice)
    for crm_ref, cards_of in SAMPLE_CARDS.items():
        for card in cards_of:
            crm.add_card(crm_ref, card)
    story = _Story(ctx, clock, sandbox)
    _yesterday(story, at)
    _today(story, at)
    _dispute(story)
    _reminders(story)
    made = story.made
    made.cases = Counter(c["kind"] for c in case_queue(ctx, CaseFilter(state="all")))
    made.seconds = time.perf_counter() - began
    return made


def _yesterday(story: _Story, at: Callable[[int, float], None]) -> None:
    ctx, sandbox = story.ctx, story.sandbox
    at(0, 0.0)
    reminders.save_rule(
        ctx,
        reminders.RuleForm(
            name="A week overdue", offset_days="7", repeat_every_days="7", max_reminders="3"
        ),
        actor=story.admin.actor,
    )
    at(0, 1.0)  # a pay link; the first card is declined, the second one pays
    first = story.customer_pays(
        story.link("CUST-0101", "INV-2001"),
        "fake-processor-declined-visa-nonce",
        "fake-valid-mastercard-nonce",
    )
    at(0, 2.0)  # a console payment with the card on file
    story.vaulted("CUST-0102", "INV-2003", "demo-token-amex-0005")
    at(0, 3.0)  # the customer pays more than the invoice: the rest is credit (overpaid)
    story.customer_pays(story.link("CUST-0103", "INV-2005", extra="25.00"), "fake-valid-nonce")
    at(0, 4.0)
    declined_later = story.customer_pays(
        story.link("CUST-0104", "INV-2006"), "fake-valid-visa-nonce"
    )
    at(0, 5.0)  # the PSP fails (HTTP 500) while charging: the outcome is unknown
    unknown = story.link("CUST-0105", "INV-2007")
    sandbox.fail_next("500")
    story.customer_pays(unknown, "fake-valid-nonce")
    # The janitor's checks on its backoff schedule find nothing at the PSP: after the
    # fifth a person is asked (unknown_at_psp); past the search window (30 minutes) the
    # payment fails as never reached the PSP, and the customer may pay again.
    for minutes in (1, 2, 4, 8, 8, 16):
        story.clock.advance(minutes=minutes)
        run_janitor(ctx)
    at(0, 6.0)  # no e-mail address: the link goes by SMS, the receipt cannot be e-mailed
    story.customer_pays(story.link("CUST-0106", "INV-2008", by="sms"), "fake-valid-nonce")
    at(0, 7.0)  # the bank declines the CUST-0104 sale at settlement; the next check sees it
    sandbox.settlement_decline(str(declined_later["psp_reference"]))
    story.clock.advance(seconds=ctx.settings.settlement_poll_seconds + 1)
    check_settlements(ctx)
    at(0, 8.0)  # the customer answers the survey of their receipt email
    link = csat.survey_link(ctx, str(first["id"]))
    if link is not None:
        csat.answer_survey(
            ctx,
            link.rsplit("/survey/", 1)[1],
            score=4,
            comment="The link was easy to use on my phone.",
        )
        story.made.surveys += 1
    sandbox.settle_all()  # the nightly settlement batch


def _today(story: _Story, at: Callable[[int, float], None]) -> None:
    ctx = story.ctx
    at(1, 0.0)
    check_settlements(ctx)  # the morning's settlement check: yesterday's sales settled
    at(1, 1.0)
    cases.assign(
        ctx,
        story.case_of("settlement_declined"),
        actor=story.supervisor.actor,
        assignee_id=story.supervisor.id,
    )
    at(1, 2.0)
    story.vaulted("CUST-0102", "INV-2004", "demo-token-amex-0005")
    at(1, 3.0)
    story.customer_pays(
        story.link("CUST-0107", "INV-2010"),
        "fake-processor-declined-mastercard-nonce",
        "fake-valid-visa-nonce",
    )
    at(1, 4.0)  # a supervisor refunds the overpayment (settled overnight) and closes its case
    body = {"amount": "25.00", "reason": "Paid 25.00 too much; refunded at her request"}
    approvals.refund_or_request(
        ctx,
        story.paid["INV-2005"],
        amount=body["amount"],
        reason=body["reason"],
        principal=story.supervisor,
        idempotency_key=story.key(),
        body_hash=approvals.request_hash(body),
    )
    story.made.refunds += 1
    cases.resolve(
        ctx,
        story.case_of("overpaid"),
        actor=story.supervisor.actor,
        code="refunded",
        note="Called Ms Moreno: the 25.00 she paid too much went back to her card.",
    )
    at(1, 5.0)  # the agent's refund is above their limit: it waits for a supervisor
    bakery = story.paid["INV-2001"]
    body = {"amount": "69.00", "reason": "Two proofing basket sets arrived cracked"}
    approvals.refund_or_request(
        ctx,
        bakery,
        amount=body["amount"],
        reason=body["reason"],
        principal=story.agent,
        idempotency_key=story.key(),
        body_hash=approvals.request_hash(body),
    )
    at(1, 6.0)  # a cheque for the payment that failed: booked once a supervisor approves
    cheque = ManualPayment(
        crm_ref="CUST-0105",
        amount=_INVOICES["INV-2007"].total.to_decimal_str(),
        currency="USD",
        method="cheque",
        reference="Cheque 004512",
        note="Posted after the card payment failed",
        invoices=("INV-2007",),
    )
    approvals.request_manual_payment(
        ctx,
        cheque,
        principal=story.agent,
        idempotency_key=story.key(),
        body_hash=approvals.request_hash({"customer": cheque.crm_ref, "amount": cheque.amount}),
    )
    story.made.approvals = len(
        approvals.list_approvals(ctx, principal=story.supervisor, state="pending")
    )


def _dispute(story: _Story) -> None:
    """At the real time: a payment with Braintree's chargeback test card, typed into the
    hosted fields (the sandbox's tokenize endpoint, as braintree-web posts it); the
    sandbox opens the dispute and posts ``dispute_opened`` to the demo."""
    ctx = story.ctx
    story.clock.move_to(datetime.now(UTC))
    view = story.link("CUST-0107", "INV-2009")
    client = json.loads(base64.b64decode(ctx.psp.client_token(currency="USD")))
    year = (datetime.now(UTC).year + 3) % 100
    with requests.post(
        f"{story.sandbox.assets_url}/tokenize",
        json={
            "authorizationFingerprint": client["authorizationFingerprint"],
            "number": _DISPUTE_CARD,
            "expirationDate": f"12/{year:02d}",
            "cvv": "123",
            "postalCode": "80202",
        },
        timeout=10,
    ) as response:
        nonce = str(response.json()["nonce"])
    story.customer_pays(view, nonce)
    # The notice may come while the sale is still being applied: it then waits, and the
    # janitor's pass over waiting notices applies it (done here, as the janitor would).
    deadline = time.monotonic() + 10
    while not disputes.list_disputes(ctx, story.supervisor) and time.monotonic() < deadline:
        time.sleep(0.05)
        story.clock.move_to(datetime.now(UTC))
        retry_pending_webhooks(ctx)
    story.made.disputes = len(disputes.list_disputes(ctx, story.supervisor))


def _reminders(story: _Story) -> None:
    """The worker's reminder pass, now: the invoices still owed are reminded (the
    demo's outbox then delivers the emails to its mailbox)."""
    story.clock.move_to(datetime.now(UTC))
    story.made.reminders = reminders.run_due_reminders(story.ctx)["sent"]
