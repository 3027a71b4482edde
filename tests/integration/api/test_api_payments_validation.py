"""POST /payments refuses bad input with a clear 4xx and creates nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm_pay.persistence.models import IdempotencyRecord, OutboxMessage, PayLink, Payment
from crm_pay.services.context import Context

URL = "/pay/api/v1/payments"


def _counts(ctx: Context) -> tuple[int, int, int, int]:
    with ctx.db.transaction() as s:
        return (
            s.scalar(select(func.count()).select_from(Payment)) or 0,
            s.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
            s.scalar(select(func.count()).select_from(PayLink)) or 0,
            s.scalar(select(func.count()).select_from(IdempotencyRecord)) or 0,
        )


def _post(
    client: FlaskClient, auth: dict[str, str], body: Any, *, key: str | None = "auto", **kw: Any
) -> Any:
    headers = dict(auth)
    if key is not None:
        headers["Idempotency-Key"] = uuid.uuid4().hex if key == "auto" else key
    if isinstance(body, (dict, list)) or body is None:
        return client.post(URL, json=body, headers=headers, **kw)
    return client.post(URL, data=body, headers=headers, **kw)


def _refused(
    client: FlaskClient,
    ctx: Context,
    auth: dict[str, str],
    body: Any,
    status: int,
    code: str | None = None,
    *,
    key: str | None = "auto",
    says: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    # Warm the customer copy first so "nothing created" is about the payment alone.
    before = _counts(ctx)
    resp = _post(client, auth, body, key=key, **kw)
    assert resp.status_code == status, resp.get_json()
    err = resp.get_json()["error"]
    assert err["message"].strip()
    if code is not None:
        assert err["code"] == code
    if says is not None:
        assert says.lower() in err["message"].lower(), err["message"]
    assert _counts(ctx) == before, "a refused request left rows behind"
    return err


def _body(**over: Any) -> dict[str, Any]:
    return {"customer": "CUST-0001", "amount": "10.00", "currency": "USD", **over}


@pytest.fixture(autouse=True)
def _known_customer(client: FlaskClient, auth: dict[str, str]) -> None:
    assert client.get("/pay/api/v1/customers/CUST-0001", headers=auth).status_code == 200


@pytest.mark.parametrize(
    "amount",
    ["12.345", "-1", "-1.00", "NaN", "1e3", "", "1,000.00", " ", "+5", "0x10", "Infinity"],
)
def test_malformed_string_amounts_are_422(
    client: FlaskClient, ctx: Context, auth: dict[str, str], amount: str
) -> None:
    err = _refused(client, ctx, auth, _body(amount=amount), 422, "invalid_request")
    assert "amount" in err["message"]


@pytest.mark.parametrize("amount", [12.5, 10, None, True, ["10.00"]])
def test_non_string_amounts_are_422(
    client: FlaskClient, ctx: Context, auth: dict[str, str], amount: Any
) -> None:
    _refused(client, ctx, auth, _body(amount=amount), 422, "invalid_request", says="amount")


@pytest.mark.parametrize("amount", ["0", "0.00"])
def test_zero_amount_is_422(
    client: FlaskClient, ctx: Context, auth: dict[str, str], amount: str
) -> None:
    _refused(client, ctx, auth, _body(amount=amount), 422, says="greater than zero")


def test_too_many_decimals_says_so(client: FlaskClient, ctx: Context, auth: dict[str, str]) -> None:
    _refused(client, ctx, auth, _body(amount="12.345"), 422, says="decimals")


def test_unknown_currency(client: FlaskClient, ctx: Context, auth: dict[str, str]) -> None:
    _refused(client, ctx, auth, _body(currency="XYZ"), 422, says="ISO 4217")


def test_currency_differing_from_the_customers(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    _refused(client, ctx, auth, _body(currency="EUR"), 422, says="USD")


def test_unknown_customer_is_404(client: FlaskClient, ctx: Context, auth: dict[str, str]) -> None:
    _refused(client, ctx, auth, _body(customer="CUST-9999"), 404, "not_found", says="CUST-9999")


def test_unknown_invoice_in_allocations(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    _refused(client, ctx, auth, _body(allocations={"INV-9999": "10.00"}), 422, says="INV-9999")


def test_another_customers_invoice_in_allocations(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    # INV-1002 belongs to CUST-0002.
    _refused(client, ctx, auth, _body(allocations={"INV-1002": "10.00"}), 422, says="INV-1002")


def test_allocation_above_the_invoice_outstanding(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    # INV-1004 is 87.09.
    _refused(
        client,
        ctx,
        auth,
        _body(amount="100.00", allocations={"INV-1004": "90.00"}),
        422,
        says="INV-1004",
    )


def test_allocations_summing_above_the_amount(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    _refused(
        client,
        ctx,
        auth,
        _body(amount="50.00", allocations={"INV-1001": "30.00", "INV-1004": "30.00"}),
        422,
    )


@pytest.mark.parametrize(
    "allocations", [{"INV-1001": 10}, {"INV-1001": "ten"}, ["INV-1001"], {}, "INV-1001"]
)
def test_malformed_allocations(
    client: FlaskClient, ctx: Context, auth: dict[str, str], allocations: Any
) -> None:
    _refused(client, ctx, auth, _body(allocations=allocations), 422)


def test_missing_idempotency_key_is_400(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    _refused(
        client,
        ctx,
        auth,
        _body(),
        400,
        "idempotency_key_required",
        key=None,
        says="Idempotency-Key",
    )
    _refused(client, ctx, auth, _body(), 400, "idempotency_key_required", key="")
    _refused(client, ctx, auth, _body(), 400, "idempotency_key_required", key="k" * 201)


def test_unknown_field_is_422_and_named(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    _refused(client, ctx, auth, _body(amout="10.00"), 422, "invalid_request", says="amout")


@pytest.mark.parametrize("field", ["customer", "amount", "currency"])
def test_missing_required_field_is_422_and_named(
    client: FlaskClient, ctx: Context, auth: dict[str, str], field: str
) -> None:
    body = _body()
    del body[field]
    _refused(client, ctx, auth, body, 422, "invalid_request", says=field)


@pytest.mark.parametrize(
    ("body", "kw"),
    [
        pytest.param("not json at all", {"content_type": "application/json"}, id="garbage"),
        pytest.param('{"customer": "CUST-0001",', {"content_type": "application/json"}, id="cut"),
        pytest.param(None, {}, id="null"),
        pytest.param(["CUST-0001"], {}, id="array"),
        pytest.param(
            "customer=CUST-0001&amount=10.00&currency=USD",
            {"content_type": "application/x-www-form-urlencoded"},
            id="form",
        ),
    ],
)
def test_non_json_body_is_400(
    client: FlaskClient, ctx: Context, auth: dict[str, str], body: Any, kw: dict[str, Any]
) -> None:
    _refused(client, ctx, auth, body, 400, "invalid_json", says="JSON", **kw)


def test_unknown_channel_is_422(client: FlaskClient, ctx: Context, auth: dict[str, str]) -> None:
    _refused(client, ctx, auth, _body(channel="agent_keyed"), 422, says="channel")


def test_vaulted_without_consent_is_422(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    for consent in (None, False, "true", 1):
        body = _body(channel="vaulted", payment_method_token="demo-token-visa-1111")
        if consent is not None:
            body["customer_consent"] = consent
        _refused(client, ctx, auth, body, 422, "consent_required", says="consent")


def test_vaulted_without_token_is_422(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    _refused(
        client,
        ctx,
        auth,
        _body(channel="vaulted", customer_consent=True),
        422,
        says="payment_method_token",
    )


def test_vaulted_with_a_token_not_on_file_is_422(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    _refused(
        client,
        ctx,
        auth,
        _body(channel="vaulted", customer_consent=True, payment_method_token="tok-not-on-file"),
        422,
        says="not on file",
    )


def test_vaulted_with_another_customers_card_is_422(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    # The demo cards belong to CUST-0001 only.
    _refused(
        client,
        ctx,
        auth,
        _body(
            customer="CUST-0002",
            channel="vaulted",
            customer_consent=True,
            payment_method_token="demo-token-visa-1111",
        ),
        422,
        says="not on file",
    )


def test_a_valid_request_does_create_rows(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    """The control for every test above: the same helper sees rows appear on success."""
    before = _counts(ctx)
    resp = _post(client, auth, _body())
    assert resp.status_code == 201, resp.get_json()
    after = _counts(ctx)
    assert after[0] == before[0] + 1 and after[2] == before[2] + 1 and after[3] == before[3] + 1
    assert after[1] > before[1]
