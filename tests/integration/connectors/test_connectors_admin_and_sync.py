"""Admin-configured CRM connectors: secrets in the vault, versioned settings, one
enabled, test connection, batched delivery, permanent vs temporary failures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text

from crm_pay.domain.errors import ValidationError
from crm_pay.persistence.models import Case, CrmConnectorRow, CrmConnectorVersion, OutboxMessage
from crm_pay.ports import ConnectionReport, CrmCallFailed, CrmPaymentRecord, RecordResult
from crm_pay.services import crm_settings
from crm_pay.services.context import Context
from crm_pay.services.crm_settings import ConnectorKind
from crm_pay.worker import make_dispatcher
from paytest import create_link, pay


@dataclass
class FakeBatchCrm:
    """An in-memory CRM with a batch endpoint; delegates reads to the builtin demo CRM."""

    reads: Any
    settings: dict[str, str]
    secrets: dict[str, str]
    max_batch: int = 2
    name: str = "fake"
    calls: list[list[str]] = field(default_factory=list)
    stored: dict[str, CrmPaymentRecord] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)
    down: bool = False

    def __getattr__(self, item: str) -> Any:
        return getattr(self.reads, item)

    def upsert_payments(self, records: list[CrmPaymentRecord]) -> list[RecordResult]:
        if self.down:
            raise CrmCallFailed("CRM down", delay=30)
        self.calls.append([r.payment_id for r in records])
        out = []
        for r in records:
            if r.amount.to_decimal_str() in self.refuse:
                out.append(
                    RecordResult(
                        r.payment_id,
                        False,
                        "FIELD_CUSTOM_VALIDATION_EXCEPTION: Amount__c too large",
                        retryable=False,
                    )
                )
            else:
                self.stored[r.payment_id] = r
                out.append(RecordResult(r.payment_id, True))
        return out

    def upsert_payment(self, record: CrmPaymentRecord) -> None:
        self.upsert_payments([record])

    notes: dict[str, str] = field(default_factory=dict)

    def add_timeline_note(self, crm_ref: str, key: str, text: str) -> None:
        self.notes[f"{crm_ref}/{key}"] = text

    def test_connection(self) -> ConnectionReport:
        if self.secrets.get("token") != "good":
            return ConnectionReport(
                False, (("authentication", False, "invalid_grant: authentication failure"),)
            )
        return ConnectionReport(True, (("authentication", True, "authenticated as api@x"),))


@pytest.fixture
def fake_kind(ctx: Context) -> dict[str, FakeBatchCrm]:
    built: dict[str, FakeBatchCrm] = {}
    reads = ctx.crm.wrapped_adapter  # the builtin demo CRM, for customers and invoices

    def factory(
        settings: dict[str, str], secrets: dict[str, str], mapping: dict[str, str]
    ) -> FakeBatchCrm:
        built["last"] = FakeBatchCrm(reads, settings, secrets)
        return built["last"]

    ctx.crm_kinds = {
        **ctx.crm_kinds,
        "fake": ConnectorKind(
            kind="fake",
            label="Fake",
            factory=factory,
            settings_fields=({"name": "instance", "label": "Instance", "required": True},),
            secret_fields=({"name": "token", "label": "Token", "required": True},),
            default_mapping={"payment_object": "Payment__c"},
        ),
    }
    return built


def test_secrets_are_encrypted_never_shown_and_kept_when_left_blank(
    ctx: Context, fake_kind: dict
) -> None:
    view = crm_settings.save_connector(
        ctx,
        name="acme",
        kind="fake",
        settings={"instance": "x"},
        secrets={"token": "s3cr3t-token-value"},
        actor="admin",
    )
    assert view["secrets"] == {"token": "set"}
    assert "s3cr3t" not in json.dumps(view)
    with ctx.db.engine.connect() as conn:
        dump = " ".join(str(r) for r in conn.execute(text("select * from crm_connectors")))
        history = " ".join(
            str(r) for r in conn.execute(text("select * from crm_connector_versions"))
        )
        audit_rows = " ".join(str(r) for r in conn.execute(text("select * from audit_log")))
    assert "s3cr3t" not in dump + history + audit_rows
    # Editing settings without re-typing the secret keeps it.
    crm_settings.save_connector(
        ctx,
        name="acme",
        kind="fake",
        settings={"instance": "y"},
        secrets={"token": ""},
        actor="admin",
    )
    with ctx.db.transaction() as s:
        row = s.scalars(select(CrmConnectorRow)).one()
        versions = s.scalars(select(CrmConnectorVersion.version)).all()
    assert crm_settings._read_secrets(ctx, row) == {"token": "s3cr3t-token-value"}
    assert versions == [1, 2] and row.settings == {"instance": "y"}


def test_required_and_unknown_settings_are_refused_clearly(ctx: Context, fake_kind: dict) -> None:
    with pytest.raises(ValidationError, match="instance"):
        crm_settings.save_connector(ctx, name="acme", kind="fake", settings={}, actor="a")
    with pytest.raises(ValidationError, match="unknown setting"):
        crm_settings.save_connector(
            ctx, name="acme", kind="fake", settings={"instance": "x", "colour": "red"}, actor="a"
        )
    with pytest.raises(ValidationError, match="unknown connector kind"):
        crm_settings.save_connector(ctx, name="acme", kind="nope", settings={}, actor="a")


def test_test_connection_gives_the_crms_answer_and_is_remembered(
    ctx: Context, fake_kind: dict
) -> None:
    crm_settings.save_connector(
        ctx,
        name="acme",
        kind="fake",
        settings={"instance": "x"},
        secrets={"token": "bad"},
        actor="admin",
    )
    report = crm_settings.test_connector(ctx, "acme")
    assert not report.ok and "invalid_grant" in report.checks[0][2]
    crm_settings.save_connector(
        ctx,
        name="acme",
        kind="fake",
        settings={"instance": "x"},
        secrets={"token": "good"},
        actor="admin",
    )
    assert crm_settings.test_connector(ctx, "acme").ok
    assert crm_settings.connector_view(ctx, "acme")["last_test"]["ok"] is True


def test_one_enabled_connector_receives_the_sync_in_batches(
    client: FlaskClient, auth: dict[str, str], ctx: Context, fake_kind: dict
) -> None:
    crm_settings.save_connector(ctx, name="old", kind="builtin", settings={}, actor="admin")
    crm_settings.enable_connector(
        ctx, "old", actor="admin", override_reason="test set-up: enabled without a test"
    )
    crm_settings.save_connector(
        ctx,
        name="acme",
        kind="fake",
        settings={"instance": "x"},
        secrets={"token": "good"},
        actor="admin",
    )
    crm_settings.enable_connector(
        ctx, "acme", actor="admin", override_reason="test set-up: enabled without a test"
    )
    assert [c["name"] for c in crm_settings.list_connectors(ctx) if c["enabled"]] == ["acme"]
    ctx.crm.refresh()  # don't wait for the 2-second re-check in a test
    ids = []
    for customer in ("CUST-0001", "CUST-0002", "CUST-0003"):
        _, p = create_link(client, auth, amount="5.00", customer=customer)
        pay(client, p["pay_url"])
        ids.append(p["id"])
    make_dispatcher(ctx).drain()
    crm = fake_kind["last"]
    assert set(crm.stored) == set(ids)
    assert all(len(call) <= 2 for call in crm.calls)  # max_batch respected
    assert any(len(call) == 2 for call in crm.calls)  # and used
    assert crm_settings.sync_status(ctx)["dead"] == 0


def test_refused_record_is_dead_lettered_at_once_with_the_crms_message(
    client: FlaskClient, auth: dict[str, str], ctx: Context, fake_kind: dict
) -> None:
    crm_settings.save_connector(
        ctx,
        name="acme",
        kind="fake",
        settings={"instance": "x"},
        secrets={"token": "good"},
        actor="admin",
    )
    crm_settings.enable_connector(
        ctx, "acme", actor="admin", override_reason="test set-up: enabled without a test"
    )
    ctx.crm.refresh()
    _, ok = create_link(client, auth, amount="6.00")
    pay(client, ok["pay_url"])
    _, bad = create_link(client, auth, amount="7.00", customer="CUST-0002")
    pay(client, bad["pay_url"])
    ctx.crm.wrapped_adapter.refuse.add("7.00")
    make_dispatcher(ctx).run_once()
    status = crm_settings.sync_status(ctx)
    assert status["dead"] >= 1
    assert "Amount__c too large" in status["dead_letters"][0]["error"]
    assert ok["id"] in ctx.crm.wrapped_adapter.stored


def test_crm_down_loses_nothing_and_honours_the_retry_delay(
    client: FlaskClient, auth: dict[str, str], ctx: Context, fake_kind: dict
) -> None:
    crm_settings.save_connector(
        ctx,
        name="acme",
        kind="fake",
        settings={"instance": "x"},
        secrets={"token": "good"},
        actor="admin",
    )
    crm_settings.enable_connector(
        ctx, "acme", actor="admin", override_reason="test set-up: enabled without a test"
    )
    ctx.crm.refresh()
    _, p = create_link(client, auth, amount="8.00")
    pay(client, p["pay_url"])
    fake = ctx.crm.wrapped_adapter
    fake.down = True
    make_dispatcher(ctx).run_once()
    with ctx.db.transaction() as s:
        msg = s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic == "crm.upsert_payment")
            .order_by(OutboxMessage.id)
        ).first()
        assert msg is not None and msg.status == "pending"
        wait = msg.available_at.replace(tzinfo=None) - msg.created_at.replace(tzinfo=None)
    assert timedelta(seconds=29) <= wait <= timedelta(seconds=31)  # the CRM's Retry-After
    fake.down = False
    base = ctx.clock
    ctx.clock = lambda: base() + timedelta(minutes=1)
    make_dispatcher(ctx).drain()
    assert p["id"] in fake.stored


def test_a_card_number_never_reaches_the_crm_and_raises_an_alert(
    client: FlaskClient, auth: dict[str, str], ctx: Context, fake_kind: dict
) -> None:
    crm_settings.save_connector(
        ctx,
        name="acme",
        kind="fake",
        settings={"instance": "x"},
        secrets={"token": "good"},
        actor="admin",
    )
    crm_settings.enable_connector(
        ctx, "acme", actor="admin", override_reason="test set-up: enabled without a test"
    )
    ctx.crm.refresh()
    _, p = create_link(client, auth, amount="9.00")
    pay(client, p["pay_url"])
    # A PSP reference that looks like a card number (it never should, but if it did...)
    from crm_pay.persistence.models import Payment

    with ctx.db.transaction() as s:
        s.get(Payment, p["id"]).psp_transaction_id = "4111111111111111"  # type: ignore[union-attr]
    make_dispatcher(ctx).drain()
    sent = ctx.crm.wrapped_adapter.stored[p["id"]]
    assert "4111111111111111" not in repr(sent)
    with ctx.db.transaction() as s:
        assert "pan_in_payload" in s.scalars(select(Case.kind)).all()


def test_disputes_land_on_the_crm_timeline_once(
    client: FlaskClient, auth: dict[str, str], ctx: Context, fake_kind: dict, sandbox: Any
) -> None:
    crm_settings.save_connector(
        ctx,
        name="acme",
        kind="fake",
        settings={"instance": "x"},
        secrets={"token": "good"},
        actor="admin",
    )
    crm_settings.enable_connector(
        ctx, "acme", actor="admin", override_reason="test set-up: enabled without a test"
    )
    ctx.crm.refresh()
    _, p = create_link(client, auth, amount="12.00")
    pay(client, p["pay_url"])
    txn = client.get(f"/pay/api/v1/payments/{p['id']}", headers=auth).get_json()["psp_reference"]
    dispute = sandbox.open_dispute(txn)
    form = sandbox.webhook_form("dispute_opened", dispute)
    for _ in range(2):  # a replayed notification adds no second note
        client.post("/pay/webhooks/braintree", data=form)
    make_dispatcher(ctx).drain()
    notes = ctx.crm.wrapped_adapter.notes
    assert len(notes) == 1
    (text,) = notes.values()
    assert "Dispute opened" in text and "USD 12.00" in text


def test_a_rotated_refresh_token_is_kept_encrypted(ctx: Context) -> None:
    got: dict[str, Any] = {}

    def factory(settings: dict, secrets: dict, mapping: dict, *, on_refresh_token: Any) -> Any:
        got["callback"] = on_refresh_token
        got["secrets"] = secrets
        return object()

    ctx.crm_kinds = {
        **ctx.crm_kinds,
        "oauthy": ConnectorKind(
            kind="oauthy",
            label="OAuth CRM",
            factory=factory,
            secret_fields=({"name": "refresh_token", "label": "Refresh token", "required": True},),
        ),
    }
    crm_settings.save_connector(
        ctx,
        name="oauth-crm",
        kind="oauthy",
        settings={},
        secrets={"refresh_token": "first-refresh-token"},
        actor="admin",
    )
    with ctx.db.transaction() as s:
        row = s.scalars(select(CrmConnectorRow)).one()
        s.expunge(row)
    crm_settings.build_adapter(ctx, row)
    got["callback"]("second-refresh-token")
    with ctx.db.transaction() as s:
        row = s.scalars(select(CrmConnectorRow)).one()
        assert "second-refresh-token" not in row.secrets  # encrypted at rest
        s.expunge(row)
    crm_settings.build_adapter(ctx, row)
    assert got["secrets"]["refresh_token"] == "second-refresh-token"


def test_wrong_credentials_lose_nothing_and_fixing_them_drains_the_backlog(
    client: FlaskClient, auth: dict[str, str], ctx: Context, fake_kind: dict
) -> None:
    from crm_pay.ports import CrmAuthFailed

    original = FakeBatchCrm.upsert_payments

    crm_settings.save_connector(
        ctx,
        name="acme",
        kind="fake",
        settings={"instance": "x"},
        secrets={"token": "bad"},
        actor="admin",
    )
    crm_settings.enable_connector(
        ctx, "acme", actor="admin", override_reason="test set-up: enabled without a test"
    )
    ctx.crm.refresh()

    def refuse(self: FakeBatchCrm, records: list) -> list:  # type: ignore[type-arg]
        if self.secrets.get("token") != "good":
            raise CrmAuthFailed(
                "CRM refused the credentials",
                crm_message="INVALID_SESSION_ID: Session expired or invalid",
            )
        return original(self, records)

    FakeBatchCrm.upsert_payments = refuse  # type: ignore[method-assign]
    try:
        _, p = create_link(client, auth, amount="9.50")
        pay(client, p["pay_url"])
        real = ctx.clock
        for hour in range(1, 30):  # far more attempts than the outbox's maximum
            make_dispatcher(ctx).run_once()
            ctx.clock = lambda hour=hour: real() + timedelta(hours=hour)
        status = crm_settings.sync_status(ctx)
        assert status["dead"] == 0 and status["pending"] >= 1
        report = crm_settings.test_connector(ctx, "acme")
        assert not report.ok and "invalid_grant" in report.checks[0][2]
        # The admin fixes the credentials: the waiting messages go at once.
        crm_settings.save_connector(
            ctx,
            name="acme",
            kind="fake",
            settings={"instance": "x"},
            secrets={"token": "good"},
            actor="admin",
        )
        ctx.crm.refresh()
        make_dispatcher(ctx).drain()
        assert p["id"] in ctx.crm.wrapped_adapter.stored
        assert crm_settings.sync_status(ctx)["pending"] == 0
    finally:
        FakeBatchCrm.upsert_payments = original  # type: ignore[method-assign]
