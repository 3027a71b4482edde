"""After a payment made through the sandbox's hosted fields with Braintree's test Visa
4111 1111 1111 1111, no card number is in our database file, logs, outbox, CRM or any
HTTP response of ours."""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import OutboxMessage
from crm_pay.services.context import Context
from crm_pay.worker import make_dispatcher
from paytest import create_link, token_of
from vault.pan import find_pans

TEST_VISA = "4111111111111111"


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_hosted_fields_payment_leaves_no_pan_anywhere(
    app: Flask,
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    db_url: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    responses: list[bytes] = []

    status, payment = create_link(client, auth, amount="75.00")
    responses.append(json.dumps(payment).encode())
    page = client.get(f"/pay/p/{token_of(payment['pay_url'])}")
    responses.append(page.data)

    # What the sandbox's hosted-fields iframe does: tokenize on the PSP origin.
    client_token = json.loads(base64.b64decode(ctx.psp.client_token()))
    with requests.post(
        sandbox.assets_url + "/tokenize",
        json={
            "authorizationFingerprint": client_token["authorizationFingerprint"],
            "number": "4111 1111 1111 1111",
            "expirationDate": "12/30",
            "cvv": "123",
            "postalCode": "94107",
        },
        timeout=5,
    ) as tok:
        assert tok.status_code == 201
        nonce = tok.json()["nonce"]

    result = client.post(
        f"/pay/p/{token_of(payment['pay_url'])}/pay", data={"payment_method_nonce": nonce}
    )
    responses.append(result.data)
    assert b"payment approved" in result.data and b"Visa ending 1111" in result.data
    view = client.get(f"/pay/api/v1/payments/{payment['id']}", headers=auth)
    responses.append(view.data)
    number = view.get_json()["receipt_number"]
    responses.append(client.get(f"/pay/api/v1/receipts/{number}", headers=auth).data)
    responses.append(client.get(f"/pay/api/v1/receipts/{number}.pdf", headers=auth).data)
    responses.append(client.get("/pay/api/v1/customers/CUST-0001", headers=auth).data)
    make_dispatcher(ctx).drain()

    # HTTP responses of ours
    for body in responses:
        assert TEST_VISA.encode() not in body
        assert not find_pans(body.decode("latin-1"))
    # logs
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert TEST_VISA not in text and not find_pans(text)
    # outbox
    with ctx.db.transaction() as s:
        payloads = [json.dumps(m.payload) for m in s.scalars(select(OutboxMessage))]
    assert payloads and not any(find_pans(p) for p in payloads)
    # database files (SQLite: the file and its WAL) and everything in the instance folder,
    # including the builtin CRM's JSON and attached receipt PDFs
    for path in _all_files(tmp_path):
        data = path.read_bytes()
        assert TEST_VISA.encode() not in data, path
        assert b"4111 1111 1111 1111" not in data, path
    if db_url.startswith("postgresql"):
        from sqlalchemy import text as sql

        with ctx.db.engine.connect() as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    sql(
                        "select table_name from information_schema.tables"
                        " where table_schema='public'"
                    )
                )
            ]
            for table in tables:
                query = sql(f'select * from "{table}"')  # noqa: S608 - our own table names
                dump = " ".join(str(r) for r in conn.execute(query))
                # Hex digests (audit chain, key hashes) are random: one in a few hundred
                # holds a Luhn-valid run of digits. They are not card data.
                scanned = re.sub(r"\b[0-9a-f]{64}\b", "", dump)
                assert TEST_VISA not in dump and not find_pans(scanned), table
