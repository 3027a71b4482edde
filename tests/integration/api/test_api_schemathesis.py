"""The OpenAPI document is what the code accepts and answers: schemathesis generates
valid and invalid requests for every operation from ``/pay/api/v1/openapi.json`` and runs
every one of its checks (what ``schemathesis run --checks all`` runs), stateless and
stateful, with a supervisor key and an agent key, against the app in process. Any
failure is a bug in the code or in the document, never a check to switch off."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS, load_all_checks, not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.generation.stateful import run_state_machine_as_test
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import func, select

from crm_pay.persistence.models import Payment
from crm_pay.services.access import create_api_key
from crm_pay.services.context import Context

pytestmark = pytest.mark.sandbox

OPENAPI = "/pay/api/v1/openapi.json"

load_all_checks()
# Every registered check function: the set ``--checks all`` selects.
ALL_CHECKS: list[Callable[..., Any]] = [
    c for c in CHECKS.get_all() if callable(c) and not isinstance(c, type)
]

BOUNDED = settings(
    max_examples=6,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def inapplicable(case: Any) -> list[Callable[..., Any]]:
    """Checks that cannot hold for one operation, each with why; nothing else is skipped."""
    if case.operation.label == "POST /reconciliations/{day}":
        # A day that has not begun is a 422 by the clock, which no schema can state
        # (JSON Schema has no "date not after today"); the document says so in words.
        return [positive_data_acceptance]
    if case.operation.method.upper() == "POST" and "/keypad" in case.operation.path:
        # This app has no keypad payments (no Twilio settings): every step is the
        # documented 503 telephony_unavailable ("send a pay link instead"), on purpose.
        return [not_a_server_error]
    if (
        case.operation.label == "POST /payments"
        and isinstance(case.body, dict)
        and case.body.get("channel") == "ivr"
    ):
        # The same for an ivr payment: without keypad payments it is refused at creation
        # with that documented 503, and nothing is created.
        return [not_a_server_error]
    return []


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """Hundreds of requests a minute from one address: the limiter (429, documented on
    every operation; tested in its own suite) would answer instead of the routes."""
    return {
        "CRM_PAY_API_RATE_LIMIT": "100000/minute",
        "CRM_PAY_API_UNAUTHENTICATED_RATE_LIMIT": "100000/minute",
    }


def headers_for(ctx: Context, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(ctx, name=f'st-{role}', role=role)}"}


@pytest.mark.parametrize("role", ["supervisor", "agent"])
def test_every_operation_answers_as_documented(app: Flask, ctx: Context, role: str) -> None:
    headers = headers_for(ctx, role)
    schema = schemathesis.openapi.from_wsgi(OPENAPI, app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14, "every operation of the document is exercised"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @BOUNDED
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                case.call_and_validate(
                    headers=headers, checks=ALL_CHECKS, excluded_checks=inapplicable(case)
                )

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # collect every operation's
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)


# A customer of the test CRM, so that created payments exist and the links from
# POST /payments (get, messages, send-link, cancel, refund, resolve) reach real ones.
NEW_KEYS = itertools.count(1)
KNOWN_CUSTOMER = {"customer": "CUST-0001", "currency": "USD", "amount": "10.00"}


# Two walks: the payment's own links (the machine must create payments for them to lead
# anywhere), and the operations around payments (cases, refunds, approvals, manual
# payments, adjustments, disputes). In one walk over every operation the derandomized
# machine spent its steps on the many operations that need an existing object and never
# created a payment.
WALKS = {
    "payments": r"^/(payments|receipts|customers)",
    "operations": r"^/(cases|refunds|approvals|manual-payments|adjustments|disputes)",
}


@pytest.mark.parametrize("walk", sorted(WALKS))
@pytest.mark.parametrize("role", ["supervisor", "agent"])
def test_the_stateful_phase_follows_the_links_without_a_failure(
    app: Flask, ctx: Context, role: str, walk: str
) -> None:
    headers = headers_for(ctx, role)
    schema = schemathesis.openapi.from_wsgi(OPENAPI, app).include(path_regex=WALKS[walk])
    # Valid requests only: the walk is about what the links lead to (the stateless test
    # above sends the invalid ones); a derandomized mixed walk could spend every POST
    # /payments on a malformed body and create nothing.
    schema.config.generation.update(modes=[GenerationMode.POSITIVE])
    base = schema.as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]
        def before_call(self, case: Any) -> None:
            positive = case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE
            if (
                case.operation.label == "POST /payments"
                and positive
                and isinstance(case.body, dict)
            ):
                case.body.update(KNOWN_CUSTOMER)
                # A new payment needs a new key: reusing one with another body is the
                # documented 422, and no schema can say "a key not used before".
                key = f"st-{next(NEW_KEYS)}"
                case.headers = {**(case.headers or {}), "Idempotency-Key": key}
                case.body.pop("allocations", None)  # invoices of CUST-0001 are not known here
                if case.body.get("channel") in ("vaulted", "ivr"):  # no card, no keypad here
                    case.body["channel"] = "link"
                    case.body.pop("payment_method_token", None)
                    case.body.pop("customer_consent", None)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(
                response, checks=ALL_CHECKS, headers=headers, excluded_checks=inapplicable(case)
            )

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=15,
            stateful_step_count=8,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    if walk == "payments":
        with ctx.db.transaction() as s:
            created = int(s.scalar(select(func.count()).select_from(Payment)) or 0)
        assert created > 0, "the machine created payments, so the links had something to follow"
