"""CRM sync through the outbox against a slow batching CRM: calls per payment and lag.

The CRM is an in-process fake that implements ``CrmConnector`` and ``BatchingCrm``
(``max_batch`` 200) and sleeps ``LATENCY`` (50 ms) in every write call: a batch upsert,
a single upsert, a balance update, a receipt attachment, a timeline note. Its reads
(customer, open invoices, cards on file) answer at once, so the payment path that
produces the load is not slowed by them. It is registered as a connector kind in
``ctx.crm_kinds``, saved and enabled as an admin would, and the outbox is
delivered by the real dispatcher (``crm_pay.worker.make_dispatcher``).

Payments are real ones: ``POST /pay/api/v1/payments`` with ``channel: vaulted`` (a card
on file, charged in the same request through the real ``braintree`` SDK against the
local development sandbox), round-robin over ``CUSTOMERS`` bench customers, each with a
card on file and one large open invoice. Each payment writes what a payment writes to
the outbox: a payment upsert and a balance update for "created" and again for
"succeeded", the receipt for the CRM and the receipt email.

Phases, on each backend (a fresh database):

1. *bulk backlog*: ``BACKLOG`` payments are made with no dispatcher running, then the
   whole backlog (every topic) is drained with the CRM's latency switched off. The
   number of calls does not depend on the latency (one thread drains the queue in the
   same passes either way), so the calls are exact; the drain time at 50 ms is
   estimated (time at 0 ms + calls x latency) and printed with ``~``.
2. *lag, full API path*: a producer thread makes payments through the API, aiming at
   ``RATE`` per second (a 2-core machine cannot reach it: the achieved rate is printed
   next to the target), while the dispatcher runs in its background thread against the
   50 ms CRM.
3. *bulk replay*: the "succeeded" payment upserts of ``BULK`` payments are put back in
   the queue with ``crm_pay.services.outbox.replay`` (what the admin's "replay all"
   does) and drained at 50 ms: payments per CRM API call and the measured drain time.
4. *lag, direct enqueue*: a producer thread enqueues ``crm.upsert_payment`` messages for
   existing payments at ``RATE`` per second, skipping the payment path, while the
   dispatcher runs: the delivery side alone at the target rate.

5. *worker processes* (PostgreSQL only): 1, then 4 worker processes, each running what
   ``crm-pay worker`` runs (``BackgroundWorkers.run_forever``, with the bench CRM
   registered as a connector kind in the process, at 50 ms per call), drain a backlog of
   ``WORKER_MESSAGES`` payment upserts enqueued at once, each for its own customer:
   payments per second kept up with = upserts / drain time (goal >= 100/s with 4).

Set-up between phases: payments made only to fill the ``BULK`` pool, and whatever a
lag phase left undelivered, have their outbox messages marked delivered without being
delivered, so that each measured phase starts with an empty queue (the bench says how
many).

Lag is from the message's ``created_at`` (taken in the transaction that commits it) to
the moment the fake CRM has stored the record, i.e. the end of its 50 ms call. For the
full API path it is each payment's "succeeded" upsert, and the CRM must hold the payment
with that status (an older message of the same payment, delivered later, carries the
current status and counts). What is not delivered by the deadline has a lag only known
to be at least its age when the run stopped: percentiles that depend on such messages
are printed as ``>=``.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.common import RunOptions, format_table, machine_info, percentile, write_results
from benchmarks.link_payment import (
    PG_DEFAULT_URL,
    PG_URL_ENV,
    _app_config,
    _prepare_postgres,
    _redacted,
)

__all__ = ["DESCRIPTION", "NAME", "run"]

NAME = "crm_sync"
DESCRIPTION = "outbox -> 50 ms batching CRM: payments per call at bulk, sync lag at 100/s"

LATENCY = 0.050  # seconds per CRM write call
MAX_BATCH = 200  # records per batch upsert call (Salesforce sObject Collections)
CUSTOMERS = 500  # bench customers the payments are spread over
BULK = 1000  # payments whose upserts are replayed at once
QUICK_BULK = 200
BACKLOG = 50  # payments whose whole backlog (every topic) is drained
QUICK_BACKLOG = 30
WARMUP = 10
QUICK_WARMUP = 3
RATE = 100.0  # payments (messages) per second the producers aim at
SECONDS = 10.0
QUICK_SECONDS = 3.0
INTERVAL = 0.1  # dispatcher's idle wait (it waits only after a pass that sent nothing)
DEADLINE = 10.0  # after the producer stops, wait this long for deliveries at most
QUICK_DEADLINE = 5.0
AMOUNT = "1.00"
CARD_TOKEN = "demo-token-visa-1111"
INVOICE_MINOR = 10_000_000  # 100,000.00: never paid off by the bench's payments

UPSERT_TOPIC = "crm.upsert_payment"


class BenchError(RuntimeError):
    """Something did not do what it does in production; the figures would lie."""


# -- the slow CRM -----------------------------------------------------------------------


@dataclass(frozen=True)
class CrmCall:
    kind: str  # "upsert_batch" | "upsert" | "balance" | "receipt" | "note"
    records: int
    mangled: int = 0  # records whose payment id arrived redacted by the PAN guard


class SlowBatchCrm:
    """A CRM with a batch upsert endpoint and ``latency`` seconds per write call; reads
    go to ``reads`` (:class:`BenchReads`) at once."""

    name = "bench-slow"

    def __init__(self, reads: Any, *, latency: float, max_batch: int) -> None:
        self.reads = reads
        self.latency = latency
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self.calls: list[CrmCall] = []
        # payment id -> [(wall-clock time the CRM stored it, status)]
        self.stored: dict[str, list[tuple[float, str]]] = {}

    def __getattr__(self, item: str) -> Any:
        if item == "reads":  # not set yet (copy, pickle): no recursion
            raise AttributeError(item)
        return getattr(self.reads, item)

    def reset(self) -> None:
        with self._lock:
            self.calls = []

    def _call(self, kind: str, records: Sequence[Any] = ()) -> None:
        if self.latency:
            time.sleep(self.latency)
        now = time.time()
        mangled = sum(1 for r in records if "REDACTED" in r.payment_id)
        with self._lock:
            self.calls.append(CrmCall(kind, len(records) or 1, mangled))
            for r in records:
                self.stored.setdefault(r.payment_id, []).append((now, r.status))

    def upsert_payments(self, records: Sequence[Any]) -> list[Any]:
        from crm_pay.ports import RecordResult

        if len(records) > self.max_batch:
            raise BenchError(f"batch of {len(records)} records above max_batch {self.max_batch}")
        self._call("upsert_batch", records)
        return [RecordResult(r.payment_id, True) for r in records]

    def upsert_payment(self, record: Any) -> None:
        self._call("upsert", [record])

    def update_balance(self, crm_ref: str, balance: Any, credit: Any) -> None:
        self._call("balance")

    def attach_receipt(self, crm_ref: str, payment_id: str, number: str, pdf: bytes) -> None:
        self._call("receipt")

    def add_timeline_note(self, crm_ref: str, key: str, text: str) -> None:
        self._call("note")

    def test_connection(self) -> Any:
        from crm_pay.ports import ConnectionReport

        return ConnectionReport(True, (("authentication", True, "bench CRM"),))

    def first_stored(self, payment_id: str, *, after: float, status: str | None) -> float | None:
        """When the CRM first held this payment (with ``status``) at or after ``after``."""
        with self._lock:
            for at, got in self.stored.get(payment_id, ()):
                if at >= after and (status is None or got == status):
                    return at
        return None


@dataclass
class CallStats:
    """What the CRM was asked to do during one phase."""

    calls: dict[str, int]
    upsert_calls: int
    upserted: int
    batch_sizes: list[int]
    mangled: int

    @classmethod
    def of(cls, calls: Sequence[CrmCall]) -> CallStats:
        kinds = Counter(c.kind for c in calls)
        upserts = [c.records for c in calls if c.kind in ("upsert_batch", "upsert")]
        return cls(
            calls=dict(sorted(kinds.items())),
            upsert_calls=len(upserts),
            upserted=sum(upserts),
            batch_sizes=upserts,
            mangled=sum(c.mangled for c in calls),
        )

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def per_call(self) -> float | None:
        return self.upserted / self.upsert_calls if self.upsert_calls else None

    def to_json(self) -> dict[str, Any]:
        sizes = sorted(self.batch_sizes)
        return {
            "calls_by_kind": self.calls,
            "total_calls": self.total,
            "upsert_calls": self.upsert_calls,
            "payment_records_upserted": self.upserted,
            "payments_per_upsert_call": None if self.per_call is None else round(self.per_call, 2),
            "upsert_batch_median": statistics.median(sizes) if sizes else None,
            "upsert_batch_max": sizes[-1] if sizes else None,
            "records_with_pan_redacted_id": self.mangled,
        }


# -- the rig ----------------------------------------------------------------------------


@dataclass
class _Rig:
    ctx: Any  # crm_pay.services.context.Context
    app: Any  # flask.Flask
    auth: dict[str, str]
    crm: SlowBatchCrm
    customers: list[str]


class BenchReads:
    """What the payment path reads from the CRM: the bench customers (each with a card
    on file and one open invoice large enough for every payment of the run) from plain
    tables of the port's own types, anything else from the builtin demo CRM in memory.

    (Adding hundreds of customers to the builtin CRM one by one copies its whole data
    each time: minutes of set-up for nothing the bench measures.)"""

    def __init__(self, customers: int) -> None:
        from connectors.crm import DEMO_CARD_TOKENS, BuiltinCrm
        from crm_pay.domain.money import Money
        from crm_pay.ports import CrmCustomer, CrmInvoice, CrmInvoiceLine, StoredCard

        self.demo = BuiltinCrm(None)
        self.customers: dict[str, Any] = {}
        self.invoices: dict[str, Any] = {}
        self.cards: dict[str, Any] = {}
        for i in range(1, customers + 1):
            ref = f"BENCH-{i:04d}"
            self.customers[ref] = CrmCustomer(
                ref, f"Bench Customer {i}", email=f"bench{i}@example.com", currency="USD"
            )
            self.invoices[ref] = CrmInvoice(
                crm_ref=f"BINV-{i:04d}",
                customer_ref=ref,
                currency="USD",
                issued_on=date(2026, 1, 1),
                due_on=date(2026, 12, 31),
                lines=(
                    CrmInvoiceLine("Subscription", 1, Money(INVOICE_MINOR, "USD"), Money(0, "USD")),
                ),
                shipping=Money(0, "USD"),
            )
            self.cards[ref] = StoredCard(CARD_TOKEN, DEMO_CARD_TOKENS[CARD_TOKEN], is_default=True)

    @property
    def refs(self) -> list[str]:
        return list(self.customers)

    def find_customer(self, crm_ref: str) -> Any:
        if crm_ref in self.customers:
            return self.customers[crm_ref]
        return self.demo.find_customer(crm_ref)

    def find_customers_by_phone(self, e164: str) -> Any:
        return self.demo.find_customers_by_phone(e164)

    def find_customers_by_email(self, email: str) -> Any:
        wanted = email.strip().casefold()
        mine = [c for c in self.customers.values() if (c.email or "").casefold() == wanted]
        return mine or self.demo.find_customers_by_email(email)

    def open_invoices(self, crm_ref: str) -> Any:
        if crm_ref in self.invoices:
            return [self.invoices[crm_ref]]
        return self.demo.open_invoices(crm_ref)

    def cards_on_file(self, crm_ref: str) -> Any:
        if crm_ref in self.cards:
            return [self.cards[crm_ref]]
        return self.demo.cards_on_file(crm_ref)


@contextmanager
def _rig(db_url: str | None, customers: int) -> Iterator[_Rig]:
    """Sandbox, app, database and the slow CRM enabled as the merchant's connector;
    everything released on the way out."""
    from crm_pay.current import get_context
    from crm_pay.services import crm_settings as connectors
    from crm_pay.services.access import create_api_key
    from crm_pay.services.crm_settings import ConnectorKind
    from crm_pay.testing.sandbox_app import close_app, start_app, start_sandbox

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-pay-bench-")))
        # With the demo cards registered: CARD_TOKEN is one of them.
        sandbox = start_sandbox(
            merchant_id="bench_merchant", public_key="bench_public", private_key="bench_private"
        )
        stack.callback(sandbox.stop)

        url = db_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
        # Development secrets (generated into the temporary instance folder).
        app = start_app(_app_config(url, sandbox, tmp), tmp / "instance")
        stack.callback(close_app, app)
        ctx = get_context(app)
        api_key = create_api_key(ctx, name="bench", role="agent")

        reads = BenchReads(customers)
        slow = SlowBatchCrm(reads, latency=0.0, max_batch=MAX_BATCH)
        ctx.crm_kinds = {
            **ctx.crm_kinds,
            "bench_slow": ConnectorKind(
                kind="bench_slow",
                label="Bench CRM (50 ms per call)",
                factory=lambda settings, secrets, mapping: slow,
            ),
        }
        connectors.save_connector(ctx, name="bench", kind="bench_slow", settings={}, actor="bench")
        connectors.enable_connector(
            ctx, "bench", actor="bench", override_reason="benchmark set-up: a stand-in CRM"
        )
        if hasattr(ctx.crm, "_checked"):
            ctx.crm.refresh()  # pick the enabled connector now, not in 2 s
        active = getattr(ctx.crm, "_get", lambda: ctx.crm)()
        if active is not slow:
            raise BenchError(f"the enabled connector is {active!r}, not the bench CRM")
        yield _Rig(
            ctx=ctx,
            app=app,
            auth={"Authorization": f"Bearer {api_key}"},
            crm=slow,
            customers=reads.refs,
        )


def _payment_maker(rig: _Rig) -> Callable[[int], str]:
    """A function that makes payment ``i`` through the API (a new test client, so each
    thread has its own) and returns its id."""
    client = rig.app.test_client()

    def make(i: int) -> str:
        body = {
            "customer": rig.customers[i % len(rig.customers)],
            "amount": AMOUNT,
            "currency": "USD",
            "channel": "vaulted",
            "payment_method_token": CARD_TOKEN,
            "customer_consent": True,
        }
        headers = {**rig.auth, "Idempotency-Key": uuid.uuid4().hex}
        resp = client.post("/pay/api/v1/payments", json=body, headers=headers)
        payment = resp.get_json() or {}
        if resp.status_code != 201 or payment.get("status") != "submitted_for_settlement":
            error = payment.get("error") if isinstance(payment, dict) else None
            raise BenchError(f"vaulted payment answered {resp.status_code}: {error!r}")
        return str(payment["id"])

    return make


def _pending_by_topic(ctx: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from crm_pay.persistence.models import OutboxMessage

    with ctx.db.transaction() as s:
        rows = s.execute(
            select(OutboxMessage.topic, func.count())
            .where(OutboxMessage.status == "pending")
            .group_by(OutboxMessage.topic)
        ).all()
    return {str(t): int(n) for t, n in sorted(rows)}


def _succeeded_upserts(ctx: Any, payment_ids: set[str]) -> dict[str, tuple[int, float, str]]:
    """payment id -> (message id, created_at as epoch seconds, status it carries) of the
    "succeeded" payment upsert of each payment."""
    from sqlalchemy import select

    from crm_pay.persistence.db import as_utc
    from crm_pay.persistence.models import OutboxMessage

    found: dict[str, tuple[int, float, str]] = {}
    with ctx.db.transaction() as s:
        rows = s.execute(
            select(OutboxMessage.id, OutboxMessage.payload, OutboxMessage.created_at)
            .where(OutboxMessage.topic == UPSERT_TOPIC)
            .where(OutboxMessage.dedupe_key.like("%:succeeded"))
        ).all()
    for msg_id, payload, created_at in rows:
        pid = payload.get("payment_id")
        if pid in payment_ids:
            created = as_utc(created_at)
            assert created is not None  # the column is NOT NULL
            found[pid] = (int(msg_id), created.timestamp(), str(payload["status"]))
    missing = payment_ids - set(found)
    if missing:
        raise BenchError(f"{len(missing)} payments have no 'succeeded' upsert message")
    return found


def _mark_pending_delivered(ctx: Any) -> int:
    """Set-up only: mark every pending message delivered, without delivering it, so the
    next measured phase starts with an empty queue. Returns how many."""
    from sqlalchemy import update

    from crm_pay.persistence.models import OutboxMessage

    with ctx.db.transaction() as s:
        result = s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "pending")
            .values(status="sent", sent_at=ctx.now(), locked_until=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _pan_mangles(payment_id: str) -> bool:
    """The CRM payload's PAN guard redacts this payment id (a digit run in its hex that
    passes the card checks): the CRM gets the record under a mangled id."""
    from vault import pan

    return bool(pan.redact(payment_id) != payment_id)


# -- phases -----------------------------------------------------------------------------


@dataclass
class BulkResult:
    scenario: str
    payments: int
    messages: dict[str, int]
    stats: CallStats
    drain_s: float
    drain_at_latency_s: float
    estimated: bool
    made_per_s: float | None = None  # how fast the payments were made (backlog only)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "payments": self.payments,
            "messages_by_topic": self.messages,
            **self.stats.to_json(),
            "total_calls_per_payment": round(self.stats.total / self.payments, 3),
            "drain_s": round(self.drain_s, 3),
            "drain_at_50ms_s": round(self.drain_at_latency_s, 3),
            "drain_at_50ms_is_estimate": self.estimated,
            "payments_made_per_s": None if self.made_per_s is None else round(self.made_per_s, 2),
        }


@dataclass
class LagResult:
    scenario: str
    target_rate: float
    seconds: float
    produced: int = 0
    achieved_rate: float = 0.0
    lags_s: list[float] = field(default_factory=list)  # delivered
    censored_s: list[float] = field(default_factory=list)  # undelivered: age at stop
    pan_mangled: int = 0  # left out: the CRM got them under a redacted id
    stats: CallStats | None = None
    left_pending: dict[str, int] = field(default_factory=dict)

    def pct(self, p: float) -> tuple[float, bool]:
        """(value, exact): with undelivered messages, a lower bound unless exact."""
        low = sorted(self.lags_s + self.censored_s)
        high = sorted(self.lags_s + [math.inf] * len(self.censored_s))
        lo, hi = percentile(low, p), percentile(high, p)
        return lo, lo == hi

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "target_rate_per_s": self.target_rate,
            "seconds": self.seconds,
            "produced": self.produced,
            "achieved_rate_per_s": round(self.achieved_rate, 2),
            "delivered": len(self.lags_s),
            "undelivered_at_stop": len(self.censored_s),
            "left_out_pan_redacted_id": self.pan_mangled,
            "dispatcher_interval_s": INTERVAL,
        }
        if self.lags_s or self.censored_s:
            for name, p in (("p50", 50), ("p95", 95), ("max", 100)):
                value, exact = self.pct(p)
                out[f"lag_{name}_ms"] = round(value * 1000, 1)
                out[f"lag_{name}_exact"] = exact
        if self.lags_s:
            out["lag_mean_delivered_ms"] = round(statistics.fmean(self.lags_s) * 1000, 1)
        if self.stats is not None:
            out.update(self.stats.to_json())
        out["left_pending_by_topic"] = self.left_pending
        return out


def _make_payments(rig: _Rig, count: int, offset: int) -> tuple[list[str], float]:
    """``count`` payments through the API, one after the other; (ids, seconds)."""
    make = _payment_maker(rig)
    started = time.perf_counter()
    ids = [make(offset + i) for i in range(count)]
    return ids, time.perf_counter() - started


def _drain(rig: _Rig, latency: float) -> tuple[CallStats, float]:
    """Drain the queue with ``make_dispatcher``; (what the CRM was asked, seconds)."""
    from crm_pay.worker import make_dispatcher

    rig.crm.latency = latency
    rig.crm.reset()
    started = time.perf_counter()
    make_dispatcher(rig.ctx).drain(max_passes=100_000)
    elapsed = time.perf_counter() - started
    left = _pending_by_topic(rig.ctx)
    if left:
        raise BenchError(f"the drain left messages pending: {left}")
    return CallStats.of(rig.crm.calls), elapsed


def _bulk_backlog(rig: _Rig, count: int, offset: int) -> tuple[BulkResult, list[str]]:
    """Make ``count`` payments with no dispatcher running, then drain the whole backlog
    with the CRM's latency off (calls counted exactly; the time at 50 ms is estimated)."""
    ids, made_s = _make_payments(rig, count, offset)
    pending = _pending_by_topic(rig.ctx)
    stats, drain_s = _drain(rig, 0.0)
    result = BulkResult(
        scenario="backlog, every topic",
        payments=count,
        messages=pending,
        stats=stats,
        drain_s=drain_s,
        drain_at_latency_s=drain_s + stats.total * LATENCY,
        estimated=True,
        made_per_s=count / made_s,
    )
    return result, ids


def _bulk_replay(rig: _Rig, ids: list[str]) -> BulkResult:
    """Replay the "succeeded" upsert of every payment and drain it at 50 ms per call."""
    from crm_pay.services.outbox import replay

    messages = _succeeded_upserts(rig.ctx, set(ids))
    replay(rig.ctx, [m[0] for m in messages.values()])
    pending = _pending_by_topic(rig.ctx)
    stats, drain_s = _drain(rig, LATENCY)
    return BulkResult(
        scenario="replay of payment upserts",
        payments=len(ids),
        messages=pending,
        stats=stats,
        drain_s=drain_s,
        drain_at_latency_s=drain_s,
        estimated=False,
    )


def _paced(
    count: int, rate: float, seconds: float, stop: threading.Event, step: Callable[[int], None]
) -> float:
    """Call ``step(i)`` at ``rate`` per second (never ahead of schedule; when behind, as
    fast as it goes), at most ``count`` times, for ``seconds`` at most, or until
    ``stop``; returns the elapsed seconds."""
    started = time.perf_counter()
    for i in range(count):
        now = time.perf_counter()
        if stop.is_set() or now - started >= seconds:
            break
        wait = started + i / rate - now
        if wait > 0:
            time.sleep(wait)
        step(i)
    return time.perf_counter() - started


Target = tuple[str, float, str | None]  # payment id, message created_at (epoch), status


def _run_lag(
    rig: _Rig,
    result: LagResult,
    produce: Callable[[int], Target],
    count: int,
    limit: float,
    deadline: float,
    resolve: Callable[[list[Target]], list[Target]],
) -> list[str]:
    """Run ``produce`` at the target rate in a thread while the dispatcher runs in its
    own; then wait up to ``deadline`` s for the CRM to hold what was produced. Returns
    the ids of the payments produced."""
    from crm_pay.worker import make_dispatcher

    rig.crm.latency = LATENCY
    rig.crm.reset()
    produced: list[Target] = []
    errors: list[BaseException] = []
    elapsed: list[float] = []
    stop = threading.Event()

    def producer() -> None:
        try:
            elapsed.append(
                _paced(
                    count,
                    result.target_rate,
                    limit,
                    stop,
                    lambda i: produced.append(produce(i)),
                )
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    dispatcher = make_dispatcher(rig.ctx)
    dispatcher.start(interval=INTERVAL)
    thread = threading.Thread(target=producer, name="crm-sync-bench-producer", daemon=True)
    try:
        thread.start()
        thread.join(limit + 120)
        if thread.is_alive():
            raise BenchError("the producer did not finish")
        if errors:
            raise errors[0]
        targets = []
        for pid, at, status in resolve(produced):
            if _pan_mangles(pid):
                result.pan_mangled += 1
            else:
                targets.append((pid, at, status))
        until = time.time() + deadline
        while time.time() < until and not all(
            rig.crm.first_stored(pid, after=at, status=status) is not None
            for pid, at, status in targets
        ):
            time.sleep(0.05)
        stopped_at = time.time()
    finally:
        stop.set()
        thread.join(30)
        dispatcher.stop(timeout=30)
    result.produced = len(produced)
    result.achieved_rate = len(produced) / elapsed[0] if elapsed and elapsed[0] > 0 else 0.0
    for pid, at, status in targets:
        got = rig.crm.first_stored(pid, after=at, status=status)
        if got is None or got > stopped_at:
            result.censored_s.append(stopped_at - at)
        else:
            result.lags_s.append(got - at)
    result.stats = CallStats.of(rig.crm.calls)
    result.left_pending = _pending_by_topic(rig.ctx)
    return [pid for pid, _, _ in produced]


def _lag_full(
    rig: _Rig, seconds: float, deadline: float, offset: int
) -> tuple[LagResult, list[str]]:
    """Make vaulted payments through the API at up to ``RATE``/s."""
    result = LagResult("full API path (vaulted payments)", RATE, seconds)
    make = _payment_maker(rig)

    def produce(i: int) -> Target:
        return make(offset + i), 0.0, None

    def resolve(produced: list[Target]) -> list[Target]:
        messages = _succeeded_upserts(rig.ctx, {pid for pid, _, _ in produced})
        return [(pid, at, status) for pid, (_, at, status) in messages.items()]

    ids = _run_lag(rig, result, produce, round(RATE * seconds), seconds, deadline, resolve)
    return result, ids


def _lag_direct(rig: _Rig, ids: list[str], seconds: float, deadline: float) -> LagResult:
    """Enqueue payment upserts for existing payments at ``RATE``/s (no payment path)."""
    from sqlalchemy import select

    from crm_pay.persistence.models import Customer, Payment
    from crm_pay.services.outbox import enqueue

    count = min(len(ids), round(RATE * seconds))  # each payment once
    result = LagResult("direct enqueue, upserts only", RATE, count / RATE)
    with rig.ctx.db.transaction() as s:
        rows = s.execute(
            select(Payment.id, Payment.status, Customer.crm_ref)
            .join(Customer, Customer.id == Payment.customer_id)
            .where(Payment.id.in_(ids[:count]))
        ).all()
    info = {pid: (status, ref) for pid, status, ref in rows}
    run_id = uuid.uuid4().hex[:8]

    def produce(i: int) -> Target:
        pid = ids[i]
        status, ref = info[pid]
        now = rig.ctx.now()
        with rig.ctx.db.transaction() as s:
            # What ``crm_sync_messages`` writes for a payment upsert, on the same key.
            enqueue(
                s,
                topic=UPSERT_TOPIC,
                ordering_key=f"crm:{ref}",
                dedupe_key=f"bench.direct:{run_id}:{pid}",
                payload={"payment_id": pid, "status": status, "at": now.isoformat()},
                now=now,
            )
        return pid, now.timestamp(), None

    # Every message is produced even if the producer falls a little behind schedule.
    limit = 1.5 * count / RATE
    _run_lag(rig, result, produce, count, limit, deadline, lambda produced: produced)
    return result


# -- a backend --------------------------------------------------------------------------


@dataclass
class BackendResult:
    backend: str
    database: str
    skipped: str | None = None
    server_version: str | None = None
    bulk: list[BulkResult] = field(default_factory=list)
    lag: list[LagResult] = field(default_factory=list)
    marked_delivered: int = 0  # set-up: messages marked delivered without delivery

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "database": self.database,
            "server_version": self.server_version,
            "skipped": self.skipped,
            "bulk": [b.to_json() for b in self.bulk],
            "lag": [r.to_json() for r in self.lag],
            "setup_messages_marked_delivered": self.marked_delivered,
        }


def _bench_backend(
    result: BackendResult,
    db_url: str | None,
    *,
    bulk: int,
    backlog: int,
    warmup: int,
    seconds: float,
    deadline: float,
) -> None:
    def step(what: str, started: float) -> None:
        print(f"  {what} ({time.perf_counter() - started:.1f} s)", flush=True)

    with _rig(db_url, CUSTOMERS) as rig:
        # Warm-up: imports, query compilation, pools, the PDF renderer; delivered at once.
        made = 0
        _make_payments(rig, warmup, made)
        made += warmup
        _drain(rig, 0.0)

        started = time.perf_counter()
        backlog_result, pool = _bulk_backlog(rig, backlog, made)
        made += backlog
        step(
            f"backlog: {backlog} payments made at {backlog_result.made_per_s or 0:.1f}/s "
            "(one thread, no dispatcher) and drained",
            started,
        )

        started = time.perf_counter()
        full, ids = _lag_full(rig, seconds, deadline, made)
        made += len(ids)
        pool += ids
        result.marked_delivered += _mark_pending_delivered(rig.ctx)
        step(f"lag, full API path: {len(ids)} payments at {full.achieved_rate:.1f}/s", started)

        started = time.perf_counter()
        fill = max(0, bulk - len(pool))
        ids, _ = _make_payments(rig, fill, made)
        made += fill
        pool += ids
        result.marked_delivered += _mark_pending_delivered(rig.ctx)
        step(f"set-up: {fill} more payments for the bulk replay", started)

        started = time.perf_counter()
        replayed = _bulk_replay(rig, pool[:bulk])
        step(f"bulk replay of {bulk} payment upserts", started)

        started = time.perf_counter()
        direct = _lag_direct(rig, pool[:bulk], seconds, deadline)
        step(f"lag, direct enqueue: {direct.produced} messages", started)

    result.bulk += [backlog_result, replayed]
    result.lag += [full, direct]


# -- output -----------------------------------------------------------------------------


def _ms(value: float, exact: bool) -> str:
    return f"{'' if exact else '>='}{value * 1000:.0f}"


def _print_results(results: list[BackendResult]) -> None:
    rows = []
    for r in results:
        for b in r.bulk:
            s = b.stats
            rows.append(
                [
                    r.backend,
                    b.scenario,
                    str(b.payments),
                    str(sum(b.messages.values())),
                    str(s.upsert_calls),
                    "-" if s.per_call is None else f"{s.per_call:.1f}",
                    str(max(s.batch_sizes, default=0)),
                    str(s.total),
                    f"{s.total / b.payments:.2f}",
                    f"{'~' if b.estimated else ''}{b.drain_at_latency_s:.1f}",
                ]
            )
    print()
    if rows:
        print(
            format_table(
                [
                    "backend",
                    "bulk",
                    "payments",
                    "messages",
                    "upsert calls",
                    "payments/call",
                    "max/call",
                    "total calls",
                    "calls/payment",
                    "drain s @50ms",
                ],
                rows,
            )
        )
        print(
            "  backlog: calls counted exactly with the latency off; '~' drain = time at 0 ms + "
            f"calls x {LATENCY * 1000:.0f} ms. replay: measured at {LATENCY * 1000:.0f} ms."
        )
        for r in results:
            for b in r.bulk:
                if b.estimated and b.stats.total:
                    per_payment = b.stats.total / b.payments
                    print(
                        f"  {r.backend}: {per_payment:.2f} CRM calls per payment x "
                        f"{LATENCY * 1000:.0f} ms = one dispatcher keeps up with at most "
                        f"~{1 / (per_payment * LATENCY):.1f} payments/s (CRM time alone)"
                    )
    rows = []
    for r in results:
        for lag in r.lag:
            calls = lag.stats
            if lag.lags_s or lag.censored_s:
                p50, p95, top = (_ms(*lag.pct(p)) for p in (50, 95, 100))
            else:
                p50 = p95 = top = "-"
            rows.append(
                [
                    r.backend,
                    lag.scenario,
                    f"{lag.target_rate:.0f}",
                    f"{lag.achieved_rate:.1f}",
                    str(lag.produced),
                    p50,
                    p95,
                    top,
                    str(len(lag.censored_s)),
                    "-" if calls is None else str(calls.upsert_calls),
                    "-" if calls is None or calls.per_call is None else f"{calls.per_call:.1f}",
                    "-" if calls is None else str(calls.total),
                ]
            )
    print()
    if rows:
        print(
            format_table(
                [
                    "backend",
                    "lag while producing",
                    "target/s",
                    "achieved/s",
                    "n",
                    "p50 ms",
                    "p95 ms",
                    "max ms",
                    "undelivered",
                    "upsert calls",
                    "payments/call",
                    "total calls",
                ],
                rows,
            )
        )
        print(
            f"  dispatcher: Dispatcher.start(interval={INTERVAL}) (idle wait only); CRM "
            f"{LATENCY * 1000:.0f} ms per write call, max_batch {MAX_BATCH}; lag = message "
            "created_at -> CRM has stored the record; '>=': undelivered at the deadline"
        )
    for r in results:
        if r.skipped:
            print(f"  {r.backend}: skipped: {r.skipped}")
            continue
        print(
            f"  {r.backend}: set-up marked {r.marked_delivered} outbox messages delivered "
            "without delivery (pool filling, lag-phase leftovers)"
        )
        for lag in r.lag:
            if lag.left_pending:
                print(f"  {r.backend} {lag.scenario}: still pending at stop: {lag.left_pending}")
        mangled = sum(b.stats.mangled for b in r.bulk) + sum(lag.pan_mangled for lag in r.lag)
        if mangled:
            print(
                f"  {r.backend}: {mangled} payment record(s) reached the CRM with their payment "
                "id redacted by the PAN guard (a digit run in the id passes the card checks); "
                "left out of the lag figures"
            )


def run(options: RunOptions) -> dict[str, Any]:
    """Measure on SQLite, then on PostgreSQL; print the tables, write and return JSON."""
    bulk = options.iterations or (QUICK_BULK if options.quick else BULK)
    backlog = min(bulk, QUICK_BACKLOG if options.quick else BACKLOG)
    warmup = (
        options.warmup if options.warmup is not None else QUICK_WARMUP if options.quick else WARMUP
    )
    seconds = QUICK_SECONDS if options.quick else SECONDS
    deadline = QUICK_DEADLINE if options.quick else DEADLINE
    print(
        f"CRM: {LATENCY * 1000:.0f} ms per write call, batches of up to {MAX_BATCH}; "
        f"{CUSTOMERS} customers; backlog of {backlog} payments, replay of {bulk}; "
        f"producers at {RATE:.0f}/s for {seconds:g} s, then up to {deadline:g} s to deliver"
    )
    kwargs: dict[str, Any] = {
        "bulk": bulk,
        "backlog": backlog,
        "warmup": warmup,
        "seconds": seconds,
        "deadline": deadline,
    }
    results: list[BackendResult] = []

    sqlite = BackendResult(backend="sqlite", database="a file in a temporary folder")
    results.append(sqlite)
    print("sqlite ...", flush=True)
    started = time.perf_counter()
    _bench_backend(sqlite, None, **kwargs)
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)

    server_url = os.environ.get(PG_URL_ENV) or PG_DEFAULT_URL
    bench_url, version, reason = _prepare_postgres(server_url)
    postgres = BackendResult(
        backend="postgresql", database=_redacted(bench_url), skipped=reason, server_version=version
    )
    results.append(postgres)
    if reason is None:
        print(f"postgresql {version} ({_redacted(bench_url)}) ...", flush=True)
        started = time.perf_counter()
        _bench_backend(postgres, bench_url, **kwargs)
        print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)

    workers: dict[int, dict[str, Any]] = {}
    if reason is None:
        messages = QUICK_WORKER_MESSAGES if options.quick else WORKER_MESSAGES
        print(
            f"crm-pay worker processes on postgresql: {messages} payment upserts, "
            f"{LATENCY * 1000:.0f} ms CRM (goal: >= 100 payments/s with 4) ...",
            flush=True,
        )
        _prepare_postgres(server_url)  # an empty database again
        workers = _bench_worker_processes(bench_url, messages)

    _print_results(results)
    for n, w in workers.items():
        print(
            f"worker processes: {n}: {w['payments_per_s']} payments/s kept up with "
            f"({w['delivered']}/{w['messages']} in {w['seconds']} s)"
        )
    payload: dict[str, Any] = {
        "bench": NAME,
        "description": DESCRIPTION,
        "quick": options.quick,
        "latency_ms": LATENCY * 1000,
        "max_batch": MAX_BATCH,
        "customers": CUSTOMERS,
        "bulk_payments": bulk,
        "backlog_payments": backlog,
        "warmup": warmup,
        "rate_target_per_s": RATE,
        "seconds": seconds,
        "deadline_s": deadline,
        "dispatcher_interval_s": INTERVAL,
        "dispatcher_batch_size": _dispatcher_batch_size(),
        "machine": machine_info(),
        "backends": [r.to_json() for r in results],
        "worker_processes": [workers[n] for n in sorted(workers)],
    }
    if options.results_dir is not None:
        path = write_results(options.results_dir, NAME, payload)
        print(f"  results: {path}")
    return payload


def _dispatcher_batch_size() -> int:
    """The dispatcher's claim size (messages per pass), for the record."""
    import inspect

    from crm_pay.services.outbox import Dispatcher

    default = inspect.signature(Dispatcher.__init__).parameters["batch_size"].default
    return int(default)


# -- several `crm-pay worker` processes ------------------------------------------------

WORKER_COUNTS = (1, 4)
WORKER_MESSAGES = 2000  # payment upserts in the backlog each worker count drains
QUICK_WORKER_MESSAGES = 500
WORKER_PAYMENTS = 20  # real payments the upserts refer to (round-robin)
WORKER_DEADLINE = 120.0


def _worker_env(rig: _Rig) -> dict[str, str]:
    """The rig's configuration as the environment of a worker process (what an operator
    sets for ``crm-pay worker``): plain values only, the same instance folder (secrets)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_PAY_")}
    for key, value in rig.app.config.items():
        if not key.startswith("CRM_PAY_") or value is None:
            continue
        if isinstance(value, bool):
            env[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            env[key] = str(value)
    env["CRM_PAY_INSTANCE_PATH"] = rig.app.instance_path
    env["CRM_PAY_SECRET_KEY"] = str(rig.app.config["SECRET_KEY"])
    env["CRM_PAY_BACKGROUND_WORKERS"] = "false"
    return env


def worker_process_main() -> None:
    """One worker process of the bench: exactly what ``crm-pay worker`` runs
    (``BackgroundWorkers.run_forever``), with the bench's 50 ms CRM registered as a
    connector kind first (a CRM kind cannot be added from the command line)."""
    from crm_pay.app import create_app
    from crm_pay.extension import get_context
    from crm_pay.services.crm_settings import ConnectorKind
    from crm_pay.worker import BackgroundWorkers

    app = create_app()
    ctx = get_context(app)
    slow = SlowBatchCrm(BenchReads(CUSTOMERS), latency=LATENCY, max_batch=MAX_BATCH)
    ctx.crm_kinds = {
        **ctx.crm_kinds,
        "bench_slow": ConnectorKind(
            kind="bench_slow",
            label="Bench CRM (50 ms per call)",
            factory=lambda settings, secrets, mapping: slow,
        ),
    }
    with app.app_context():
        BackgroundWorkers(ctx, outbox_interval=INTERVAL).run_forever()


def _enqueue_upserts(ctx: Any, payment_ids: list[str], count: int, tag: str) -> None:
    """``count`` payment upserts, each for its own customer (its own ordering key), in one
    transaction: the backlog of ``count`` payments made at once."""
    from crm_pay.services.outbox import enqueue

    now = ctx.now()
    with ctx.db.transaction() as s:
        for i in range(count):
            enqueue(
                s,
                topic=UPSERT_TOPIC,
                ordering_key=f"bench:{tag}:{i}",
                dedupe_key=f"bench:{tag}:{i}",
                payload={"payment_id": payment_ids[i % len(payment_ids)]},
                now=now,
            )


def _bench_worker_processes(bench_url: str, messages: int) -> dict[int, dict[str, Any]]:
    """Payments per second that ``n`` worker processes keep up with: the drain rate of a
    backlog of ``messages`` payment upserts against the 50 ms batching CRM."""
    import signal
    import subprocess
    import sys

    results: dict[int, dict[str, Any]] = {}
    with _rig(bench_url, CUSTOMERS) as rig:
        ids, _ = _make_payments(rig, WORKER_PAYMENTS, 0)
        env = _worker_env(rig)
        code = "from benchmarks.crm_sync import worker_process_main; worker_process_main()"
        for n in WORKER_COUNTS:
            _mark_pending_delivered(rig.ctx)
            procs = [
                subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
                    [sys.executable, "-c", code],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for _ in range(n)
            ]
            try:
                time.sleep(4.0)  # let every process start (imports, first connection)
                if any(p.poll() is not None for p in procs):
                    raise BenchError("a worker process exited at start")
                started = time.perf_counter()
                _enqueue_upserts(rig.ctx, ids, messages, f"w{n}")
                while True:
                    left = sum(_pending_by_topic(rig.ctx).values())
                    elapsed = time.perf_counter() - started
                    if left == 0 or elapsed > WORKER_DEADLINE:
                        break
                    time.sleep(0.05)
            finally:
                for p in procs:
                    p.send_signal(signal.SIGTERM)
                for p in procs:
                    try:
                        p.wait(15)
                    except subprocess.TimeoutExpired:
                        p.kill()
            delivered = messages - left
            results[n] = {
                "workers": n,
                "messages": messages,
                "delivered": delivered,
                "seconds": round(elapsed, 3),
                "payments_per_s": round(delivered / elapsed, 1) if elapsed else None,
                "complete": left == 0,
            }
            print(
                f"  {n} worker process(es): {delivered}/{messages} payment upserts in "
                f"{elapsed:.2f} s = {delivered / elapsed:.0f} payments/s"
                + ("" if left == 0 else f" (deadline reached, {left} left)"),
                flush=True,
            )
    return results
