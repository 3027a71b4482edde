"""Keypad status-callback intake: how many of Twilio's signed status callbacks one
process verifies, applies and publishes per second.

Set-up (not timed): a crm-pay app on a fresh SQLite file with the Twilio adapter wired as
production wires it (``CRM_PAY_TWILIO_ACCOUNT_SID``, the auth token in the vault), the
Twilio development stand-in for the REST calls, and ``SESSIONS`` keypad captures started
through :func:`crm_pay.services.keypad_payments.start_capture` on ``ivr`` payments (the
stand-in's own callbacks go to a closed port: the bench posts its own).

Timed: ``POST {prefix}/telephony/twilio/status`` through the Flask test client, one after
another, round-robin over the captures. Each callback is a progress update as Twilio
sends them while the caller keys (Payments page "StatusCallback (update)"): the card
number's digits so far (``PartialResult=true``, ``PaymentCardNumber`` masked), and every
tenth one a change of field (``Capture=expiration-date`` then back), each with its own
``DateUpdated`` so no two are replays, signed with ``X-Twilio-Signature`` by the
stand-in's signer. The endpoint verifies the signature (the ``twilio`` SDK's
``RequestValidator``), records the digest, applies the masked progress under the row lock
and publishes the agent's live event; every answer must be 200.

Printed: callbacks/s over the whole series (wall clock, and per CPU second of the process:
the fairer figure on a shared machine), p50 and p99 of one callback, and the signature
check alone (timed apart, same forms). The issue's
goal is at least 500/s; it is printed, not asserted.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import RunOptions, Summary, format_table, machine_info, write_results
from connectors.telephony.twilio_sandbox import (
    TwilioSandboxConfig,
    TwilioSandboxServer,
    twilio_signature,
)
from crm_pay.app import create_app
from crm_pay.current import get_context
from crm_pay.persistence.migrate import upgrade
from crm_pay.ports import KeypadCallback
from crm_pay.services import keypad_payments, keypad_sessions
from crm_pay.services.payments import CreatePayment, create_payment
from crm_pay.services.secrets import put_secret

__all__ = ["DESCRIPTION", "NAME", "run"]

NAME = "keypad_callbacks"
DESCRIPTION = "Twilio status callbacks verified + applied + published per second, p50/p99"

SESSIONS = 20
CALLBACKS = 3000
QUICK_CALLBACKS = 300
WARMUP = 100
QUICK_WARMUP = 20
GOAL_PER_SECOND = 500
AGENT = "agent:bench@example.com"


class BenchError(RuntimeError):
    """A callback was not applied; the figures would lie."""


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _form(
    account_sid: str, call_sid: str, capture_sid: str, n: int, at: datetime
) -> dict[str, str]:
    """The ``n``-th progress callback of a capture (masked, as Twilio sends it)."""
    form = {
        "AccountSid": account_sid,
        "CallSid": call_sid,
        "Sid": capture_sid,
        "DateCreated": _iso(at),
        "DateUpdated": _iso(at + timedelta(milliseconds=n)),
        "PaymentConnector": "Default",
        "PaymentMethod": "credit-card",
        "TokenType": "reusable",
        "PartialResult": "true",
    }
    if n % 10 == 9:  # the agent moved the caller on to the next field
        form |= {
            "Capture": "expiration-date",
            "Required": "expiration-date,security-code",
            "ExpirationDate": "12",
        }
    else:
        form |= {
            "Capture": "payment-card-number",
            "Required": "payment-card-number,expiration-date,security-code",
            "PaymentCardNumber": "x" * (1 + n % 15),
        }
    return form


def _settings(tmp: Path, twilio: TwilioSandboxServer) -> dict[str, Any]:
    return {
        "SECRET_KEY": "bench",
        "CRM_PAY_DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "CRM_PAY_DEV_SECRETS": True,
        "CRM_PAY_BUILTIN_CRM_PATH": str(tmp / "crm.json"),
        # the stand-in's own callbacks go nowhere (a closed port): the bench posts its own
        "CRM_PAY_PUBLIC_URL": "http://127.0.0.1:9",
        "CRM_PAY_TWILIO_ACCOUNT_SID": twilio.config.account_sid,
        "CRM_PAY_TWILIO_BASE_URL": twilio.base_url,
        # No payment is charged here, but creating one checks its currency against the
        # PSP adapter, which needs credentials to be built.
        "CRM_PAY_BRAINTREE_MERCHANT_ID": "bench",
        "CRM_PAY_BRAINTREE_PUBLIC_KEY": "bench",
        "CRM_PAY_BRAINTREE_PRIVATE_KEY": "bench-never-sent",
    }


def _captures(ctx: Any, twilio: TwilioSandboxServer) -> list[tuple[str, str]]:
    """``SESSIONS`` captures asking for the card number: (call SID, capture SID)."""
    captures = []
    for _ in range(SESSIONS):
        view, _ = create_payment(
            ctx,
            CreatePayment(crm_ref="CUST-0001", amount="1.00", currency="USD", channel="ivr"),
            actor=AGENT,
            idempotency_scope="bench",
            idempotency_key=uuid.uuid4().hex,
            request_hash="bench",
        )
        call = twilio.place_call()
        started = keypad_payments.start_capture(ctx, view["id"], call_sid=call.sid, actor=AGENT)
        session = keypad_sessions.keypad_session(ctx, started.id)
        capture_sid = twilio.switchboard.call(call.sid).payment_sid
        if session.status != "capturing" or capture_sid is None:
            raise BenchError(f"capture not started: {session.status}")
        captures.append((call.sid, capture_sid))
    return captures


def run(options: RunOptions) -> dict[str, Any]:
    count = options.iterations or (QUICK_CALLBACKS if options.quick else CALLBACKS)
    warmup = (
        options.warmup
        if options.warmup is not None
        else (QUICK_WARMUP if options.quick else WARMUP)
    )
    with (
        tempfile.TemporaryDirectory(prefix="crm-pay-bench-keypad-") as folder,
        TwilioSandboxServer(TwilioSandboxConfig(callback_timeout=0.5)) as twilio,
    ):
        tmp = Path(folder)
        app = create_app(_settings(tmp, twilio), instance_path=str(tmp / "instance"))
        ctx = get_context(app)
        upgrade(ctx.db)
        put_secret(ctx, "telephony.twilio.auth_token", twilio.config.auth_token, actor="bench")
        captures = _captures(ctx, twilio)
        url = keypad_sessions.status_url(ctx.settings)
        path = url.removeprefix("http://127.0.0.1:9")
        token, account = twilio.config.auth_token, twilio.config.account_sid
        at = datetime.now(UTC)
        forms = []
        for n in range(warmup + count):
            call_sid, capture_sid = captures[n % len(captures)]
            form = _form(account, call_sid, capture_sid, n, at)
            forms.append((form, twilio_signature(token, url, form)))

        client = app.test_client()
        samples: list[int] = []
        series_started = cpu_started = 0
        for n, (form, signature) in enumerate(forms):
            if n == warmup:
                series_started = time.perf_counter_ns()
                cpu_started = time.process_time_ns()
            started = time.perf_counter_ns()
            answer = client.post(
                path,
                data=form,
                headers={"X-Twilio-Signature": signature},
                base_url="http://127.0.0.1:9",
            )
            took = time.perf_counter_ns() - started
            if answer.status_code != 200:
                raise BenchError(f"callback {n} answered {answer.status_code}: {answer.text}")
            if n >= warmup:
                samples.append(took)
        elapsed_s = (time.perf_counter_ns() - series_started) / 1e9
        # CPU seconds of this process: the figure to trust on a machine shared with
        # other work (a loaded machine stretches wall time, not CPU time)
        cpu_s = (time.process_time_ns() - cpu_started) / 1e9

        # the signature check alone, on the same forms: the SDK's share of a callback
        telephony = keypad_sessions.telephony_of(ctx)
        verify: list[int] = []
        for form, signature in forms[warmup:]:
            callback = KeypadCallback(url, form, {"x-twilio-signature": signature})
            started = time.perf_counter_ns()
            telephony.parse_status(callback)
            verify.append(time.perf_counter_ns() - started)
        ctx.db.dispose()

    summary = Summary.of_ns(samples)
    verified = Summary.of_ns(verify)
    per_second = count / elapsed_s
    per_cpu_second = count / cpu_s if cpu_s else float("inf")
    print(
        f"{count} signed progress callbacks over {SESSIONS} captures, one process, "
        "Flask test client, SQLite"
    )
    print(
        format_table(
            ["step", "callbacks/s", "p50 ms", "p99 ms", "mean ms"],
            [
                [
                    "verify + apply + publish",
                    f"{per_second:,.0f}",
                    f"{summary.median_ms:.2f}",
                    f"{summary.p99_ms:.2f}",
                    f"{summary.mean_ms:.2f}",
                ],
                [
                    "signature check alone",
                    f"{1000 / verified.mean_ms:,.0f}",
                    f"{verified.median_ms:.3f}",
                    f"{verified.p99_ms:.3f}",
                    f"{verified.mean_ms:.3f}",
                ],
            ],
        )
    )
    print(f"per CPU second of this process: {per_cpu_second:,.0f} callbacks")
    print(
        f"goal (issue 12): >= {GOAL_PER_SECOND}/s: "
        f"{'met' if per_second >= GOAL_PER_SECOND else 'NOT met'} ({per_second:,.0f}/s)"
    )
    payload = {
        "bench": NAME,
        "machine": machine_info(),
        "quick": options.quick,
        "callbacks": count,
        "sessions": SESSIONS,
        "per_second": round(per_second, 1),
        "per_cpu_second": round(per_cpu_second, 1),
        "callback": summary.to_json(),
        "signature_check": verified.to_json(),
    }
    if options.results_dir is not None:
        print(f"results: {write_results(options.results_dir, NAME, payload)}")
    return payload
