"""``GET {prefix}/metrics``: Prometheus metrics of crm-pay, for scrapers only.

Reached with ``Authorization: Bearer <CRM_PAY_METRICS_TOKEN>`` and/or from a network in
``CRM_PAY_METRICS_ALLOW`` (both must match when both are set); with neither configured
the endpoint answers 404, as if it did not exist.

Two kinds of figures (docs/metrics.md lists them):

- **From the database at scrape time** (a custom collector over
  ``crm_pay.services.metrics.snapshot``): payments by status, outbox backlog and age per
  topic, dead letters, janitor backlog, webhook failures, failing CRM deliveries. Every
  web process answers the same.
- **Counted where the calls happen**: PSP call latency (a histogram, timed at the PSP
  adapter proxy), CRM calls and failures by connector (at the CRM proxy), and the
  processes counting (a gauge, ``livesum``). In prometheus-client's multiprocess mode
  (``PROMETHEUS_MULTIPROC_DIR``, which ``crm-pay serve`` sets to a directory of each
  run's own) every process writes them there and any process answers with the sum,
  collected with ``MultiProcessCollector``; otherwise each process reports its own.

The metrics live in a registry of this app's own, never prometheus-client's global
default one: crm-pay is embedded in a host app whose metrics are the host's business.
Labels are our own bounded vocabularies (method names, statuses, topics, connector
names), never a customer's data or a card number.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from crm_pay.current import get_context
from crm_pay.services import metrics as figures
from crm_pay.services.context import Context

__all__ = ["CrmPayMetrics", "init_metrics"]

log = logging.getLogger("crm_pay.metrics")

_EXTENSION_KEY = "crm_pay_metrics"
NAME_PREFIX = "crm_pay_"
# Seconds: a PSP call is a few hundred ms; the SDK's timeout is 20 s by default.
PSP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0)


def _multiprocess() -> bool:
    """Whether prometheus-client runs in multiprocess mode (it decides once, at import,
    from ``PROMETHEUS_MULTIPROC_DIR``)."""
    return values.ValueClass is not values.MutexValue


class _DatabaseFigures(Collector):
    """Gauges read from the database at each scrape."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def describe(self) -> Iterable[Metric]:
        return []  # nothing read at registration time

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "crm_pay_database_up", "1 when the database answered this scrape, else 0"
        )
        try:
            snap = figures.snapshot(self._ctx)
        except SQLAlchemyError as exc:
            log.warning("metrics: the database did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        payments = GaugeMetricFamily(
            "crm_pay_payments", "Payments by status (all time)", labels=["status"]
        )
        for status, n in sorted(snap.payments_by_status.items()):
            payments.add_metric([status], n)
        yield payments
        pending = GaugeMetricFamily(
            "crm_pay_outbox_pending", "Outbox messages waiting for delivery", labels=["topic"]
        )
        retrying = GaugeMetricFamily(
            "crm_pay_outbox_retrying",
            "Outbox messages waiting after at least one failed attempt",
            labels=["topic"],
        )
        oldest = GaugeMetricFamily(
            "crm_pay_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending outbox message (0: none pending)",
            labels=["topic"],
        )
        dead = GaugeMetricFamily(
            "crm_pay_outbox_dead_letters", "Outbox messages given up on", labels=["topic"]
        )
        for t in snap.outbox:
            pending.add_metric([t.topic], t.pending)
            retrying.add_metric([t.topic], t.retrying)
            oldest.add_metric([t.topic], t.oldest_pending_age_seconds)
            dead.add_metric([t.topic], t.dead)
        yield from (pending, retrying, oldest, dead)
        janitor = GaugeMetricFamily(
            "crm_pay_janitor_backlog",
            "Payments in doubt the janitor must check now (unknown, check due; processing "
            "past its grace)",
            labels=["status"],
        )
        for status, n in sorted(snap.janitor_backlog.items()):
            janitor.add_metric([status], n)
        yield janitor
        yield GaugeMetricFamily(
            "crm_pay_payments_in_doubt_past_window",
            "Payments still unknown/processing longer than CRM_PAY_UNKNOWN_WINDOW",
            value=snap.in_doubt_past_window,
        )
        yield GaugeMetricFamily(
            "crm_pay_payments_in_doubt_oldest_age_seconds",
            "How long the oldest payment in doubt has been so (0: none)",
            value=snap.oldest_in_doubt_age_seconds,
        )
        webhooks = GaugeMetricFamily(
            "crm_pay_webhook_failures",
            "PSP webhook notifications rejected (bad signature) or failed (not applied)",
            labels=["provider", "status"],
        )
        for (provider, status), n in sorted(snap.webhook_failures.items()):
            webhooks.add_metric([provider, status], n)
        yield webhooks
        crm = GaugeMetricFamily(
            "crm_pay_crm_delivery_errors",
            "CRM deliveries failing now (retrying or dead), by the enabled connector",
            labels=["connector", "state"],
        )
        for state in ("retrying", "dead"):
            crm.add_metric(
                [snap.crm_connector, state], snap.crm_errors.get((snap.crm_connector, state), 0)
            )
        yield crm


class _OursFromFiles(Collector):
    """crm-pay's counters and histograms summed over every process's files
    (multiprocess mode); a host's metrics in the same directory are left out."""

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        files = CollectorRegistry()
        MultiProcessCollector(files)
        for metric in files.collect():
            if metric.name.startswith(NAME_PREFIX):
                yield metric


class CrmPayMetrics:
    """One app's metrics: its registry, the PSP latency histogram, the CRM failure
    counter, and the database collector."""

    def __init__(self, ctx: Context) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        own = None if _multiprocess() else self.registry
        self.psp_seconds = Histogram(
            "crm_pay_psp_call_seconds",
            "Time of one call to the PSP adapter, by method and outcome",
            ["method", "outcome"],
            buckets=PSP_BUCKETS,
            registry=own,
        )
        self.crm_failures = Counter(
            "crm_pay_crm_call_errors",
            "Calls to the CRM connector that raised, by connector and method",
            ["connector", "method"],
            registry=own,
        )
        self.crm_calls = Counter(
            "crm_pay_crm_calls",
            "Calls to the CRM connector, by connector and method",
            ["connector", "method"],
            registry=own,
        )
        # "livesum": each process sets 1, the scrape sums the processes alive (a worker
        # that exits is marked dead by crm-pay serve and leaves the sum). The one
        # in-process gauge; the database gauges are read at scrape time, never written
        # to the files (there every process would add its own copy of one figure).
        self.processes = Gauge(
            "crm_pay_processes",
            "Processes of this app counting these metrics (crm-pay serve's live workers)",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.processes.set(1)
        if own is None:
            self.registry.register(_OursFromFiles())
        self.registry.register(_DatabaseFigures(ctx))

    def psp_call(self, adapter: Any, method: str, seconds: float, error: Any) -> None:
        outcome = "ok" if error is None else "error"
        self.psp_seconds.labels(method, outcome).observe(seconds)

    def crm_call(self, adapter: Any, method: str, seconds: float, error: Any) -> None:
        connector = str(getattr(adapter, "name", "") or type(adapter).__name__)[:60]
        self.crm_calls.labels(connector, method).inc()
        if error is not None:
            self.crm_failures.labels(connector, method).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


bp = Blueprint("crm_pay_metrics", __name__)


def _allowed() -> bool:
    config = get_context().config
    networks = config.metrics_networks
    token = config.metrics_token
    if not token and not networks:
        return False
    if networks:
        try:
            address = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            return False
        if not any(address in network for network in networks):
            return False
    if token:
        sent = request.headers.get("Authorization", "")
        scheme, _, value = sent.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode(), token.encode()
        ):
            return False
    return True


@bp.get("")
def metrics() -> Response:
    """The Prometheus text exposition; 404 to anyone not allowed to scrape."""
    if not _allowed():
        abort(404)
    collected: CrmPayMetrics = current_app.extensions[_EXTENSION_KEY]
    resp = Response(collected.exposition(), mimetype=None)
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    resp.headers["Cache-Control"] = "no-store"
    return resp


def init_metrics(app: Flask, ctx: Context, prefix: str) -> CrmPayMetrics:
    """Mount ``{prefix}/metrics`` and start timing PSP and CRM calls of this app."""
    collected = CrmPayMetrics(ctx)
    app.extensions[_EXTENSION_KEY] = collected
    for adapter, observer in ((ctx.psp, collected.psp_call), (ctx.crm, collected.crm_call)):
        observe = getattr(type(adapter), "observe_calls", None)
        if callable(observe):  # the bootstrap's proxies; a test's own fake is left as is
            observe(adapter, observer)
    app.register_blueprint(bp, url_prefix=f"{prefix}/metrics")
    return collected
