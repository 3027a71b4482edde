"""Background work: the outbox dispatcher, the janitor and the daily reconciliation.

Embedded default: threads in the web process (``CRM_PAY_BACKGROUND_WORKERS``).
Production: ``crm-pay worker`` processes, as many as needed, on PostgreSQL. They share
the work without doing it twice: outbox messages are leased ``FOR UPDATE SKIP LOCKED``
(:meth:`crm_pay.services.outbox.Dispatcher._claim`), payments in doubt likewise by the
janitor, and the one-at-a-time jobs (the janitor's sweeps, the daily reconciliation, the
pay page's script check, the dashboard's daily totals) run under an advisory lock
(:mod:`crm_pay.persistence.locks`). On SQLite one worker process is assumed.
docs/runbooks/workers.md says how to run them."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading

from crm_pay.live_publisher import use_write_only_emitter
from crm_pay.page_scripts import run_due_script_check
from crm_pay.persistence.locks import exclusive
from crm_pay.services.approval_records import expire_due_requests
from crm_pay.services.context import Context
from crm_pay.services.crm_sync import CRM_BATCH_HANDLERS, CRM_HANDLERS
from crm_pay.services.dashboard_rollup import ROLLUP_JOB, run_dashboard_rollup
from crm_pay.services.janitor import run_janitor
from crm_pay.services.notifications import CASE_UPDATE_TOPIC, deliver_message, notify_case_update
from crm_pay.services.outbox import Dispatcher, Handler
from crm_pay.services.reconciliation import run_due_reconciliation
from crm_pay.services.reminders import run_due_reminders
from crm_pay.services.saved_cards import VAULT_DELETE_TOPIC, delete_at_psp

__all__ = ["DEFAULT_LEASE_SECONDS", "BackgroundWorkers", "handlers", "make_dispatcher"]

log = logging.getLogger("crm_pay.worker")


def handlers(ctx: Context) -> dict[str, Handler]:
    """Every outbox topic this release can deliver."""
    found: dict[str, Handler] = dict(CRM_HANDLERS)
    found["message.deliver"] = deliver_message
    found[CASE_UPDATE_TOPIC] = notify_case_update
    found[VAULT_DELETE_TOPIC] = delete_at_psp
    return found


# A claimed message is this worker's for so long; then another worker may take it (the
# holder died). It must outlast twice the longest single CRM or messaging call.
DEFAULT_LEASE_SECONDS = 120


def make_dispatcher(ctx: Context, *, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> Dispatcher:
    """The outbox dispatcher of this process, named by host and pid in its logs."""
    return Dispatcher(
        ctx,
        handlers(ctx),
        batch_handlers=dict(CRM_BATCH_HANDLERS),
        worker_id=f"{socket.gethostname()}-{os.getpid()}",
        lease_seconds=lease_seconds,
    )


class BackgroundWorkers:
    def __init__(
        self,
        ctx: Context,
        *,
        outbox_interval: float = 1.0,
        janitor_interval: float = 15.0,
        reconciliation_interval: float = 600.0,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        dashboard_interval: float = 60.0,
    ) -> None:
        self.ctx = ctx
        self.dispatcher = make_dispatcher(ctx, lease_seconds=lease_seconds)
        self.outbox_interval = outbox_interval
        self.janitor_interval = janitor_interval
        # How often the worker asks whether yesterday is reconciled; it runs once a day
        # (a completed day is left alone, a failed one is tried again on the next tick).
        self.reconciliation_interval = reconciliation_interval
        self._reconciler: threading.Thread | None = None
        self._stop = threading.Event()
        self._janitor: threading.Thread | None = None
        self._reminders: threading.Thread | None = None
        # How often the dashboard's daily totals catch up with what changed.
        self.dashboard_interval = dashboard_interval
        self._dashboard: threading.Thread | None = None

    def start(self) -> None:
        self.dispatcher.start(self.outbox_interval)

        def janitor_loop() -> None:
            while not self._stop.wait(self.janitor_interval):
                try:
                    report = run_janitor(self.ctx)
                    if report.checked or report.expired:
                        log.info("janitor: %s", report)
                except Exception:  # noqa: BLE001 - the loop must survive a bad pass
                    log.exception("janitor pass failed")
                try:  # the pay page's scripts, every CRM_PAY_SCRIPT_CHECK_INTERVAL
                    with exclusive(self.ctx.db, "page_scripts.check") as mine:
                        if mine:  # else another worker is checking right now
                            run_due_script_check(self.ctx)
                except Exception:  # noqa: BLE001 - tried again on the next tick
                    log.exception("pay page script check failed")
                try:  # approval requests past their expiry, recorded and audited
                    with exclusive(self.ctx.db, "approvals.expiry") as mine:
                        expired = expire_due_requests(self.ctx) if mine else []
                    if expired:
                        log.info("approvals: %d request(s) expired", len(expired))
                except Exception:  # noqa: BLE001 - tried again on the next tick
                    log.exception("approval expiry pass failed")

        self._janitor = threading.Thread(target=janitor_loop, name="crm-pay-janitor", daemon=True)
        self._janitor.start()

        def reconciliation_loop() -> None:
            while not self._stop.wait(self.reconciliation_interval):
                try:
                    # The run's own row refuses a second run of the day (Conflict); the
                    # lock spares the other workers from even starting one.
                    with exclusive(self.ctx.db, "reconciliation.daily") as mine:
                        report = run_due_reconciliation(self.ctx) if mine else None
                    if report is not None:
                        log.info(
                            "reconciliation %s: %d matched, %d difference(s)",
                            report["date"],
                            report["matched"],
                            len(report["differences"]),
                        )
                except Exception:  # noqa: BLE001 - recorded as failed; retried next tick
                    log.exception("daily reconciliation failed")

        self._reconciler = threading.Thread(
            target=reconciliation_loop, name="crm-pay-reconciliation", daemon=True
        )
        self._reconciler.start()

        def reminder_loop() -> None:  # payment reminders, every CRM_PAY_REMINDER_INTERVAL
            while not self._stop.wait(self.ctx.config.reminder_interval):
                try:
                    # Each reminder is claimed by its unique row; the lock spares the
                    # other workers a pass that would find everything taken.
                    with exclusive(self.ctx.db, "reminders.pass") as mine:
                        if mine:
                            run_due_reminders(self.ctx)
                except Exception:  # noqa: BLE001 - tried again on the next tick
                    log.exception("payment reminder pass failed")

        self._reminders = threading.Thread(
            target=reminder_loop, name="crm-pay-reminders", daemon=True
        )
        self._reminders.start()

        def dashboard_loop() -> None:  # the dashboard's daily totals
            while not self._stop.wait(self.dashboard_interval):
                try:
                    with exclusive(self.ctx.db, ROLLUP_JOB) as mine:
                        if mine:  # else another worker is computing them right now
                            run_dashboard_rollup(self.ctx)
                except Exception:  # noqa: BLE001 - tried again on the next tick
                    log.exception("dashboard totals pass failed")

        self._dashboard = threading.Thread(
            target=dashboard_loop, name="crm-pay-dashboard", daemon=True
        )
        self._dashboard.start()

    def stop(self) -> None:
        self._stop.set()
        self.dispatcher.stop()
        if self._janitor is not None:
            self._janitor.join(5)
        if self._reconciler is not None:
            self._reconciler.join(5)
        if self._reminders is not None:
            self._reminders.join(5)
        if self._dashboard is not None:
            self._dashboard.join(5)

    def run_forever(self) -> None:
        """``crm-pay worker``: dispatch and janitor in this process until interrupted.

        Live status goes out through the Socket.IO message queue, when one is configured,
        so agents connected to a web process see what this worker changed."""
        if use_write_only_emitter(self.ctx):
            log.info("worker: live status goes through the Socket.IO message queue")
        if threading.current_thread() is threading.main_thread():
            # systemd, Kubernetes and supervisors stop a process with SIGTERM: finish the
            # delivery in hand and hand the rest back, as on Ctrl+C.
            signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
            log.info("worker stopping")
        except KeyboardInterrupt:
            log.info("worker stopping")
        finally:
            self.stop()
