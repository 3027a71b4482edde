"""`crm-pay vault rotate` (key rotation without downtime) and `crm-pay audit verify`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import select, update

from crm_pay.app import create_app
from crm_pay.current import get_context
from crm_pay.persistence.models import AuditEntry, VaultSecret
from crm_pay.services.secrets import get_secret, put_secret
from vault import KeyRing
from vault.errors import VaultError


def run(app: Flask, *args: str) -> Result:
    with app.app_context():
        return app.test_cli_runner().invoke(args=["crm-pay", *args])


# --------------------------------------------------------------------------- vault
@pytest.fixture
def sibling(app: Flask, tmp_path: Path) -> Iterator[Any]:
    """Build more apps on the same database as ``app``, with another key ring."""
    secrets = json.loads((Path(app.instance_path) / "dev-secrets.json").read_text())
    base = {
        k: v
        for k, v in app.config.items()
        if k.startswith("CRM_PAY_") or k in ("TESTING", "SECRET_KEY")
    }
    built: list[Flask] = []

    def make(vault_keys: str) -> Flask:
        config = {
            **base,
            "CRM_PAY_VAULT_KEYS": vault_keys,
            "CRM_PAY_TOKEN_PEPPER": secrets["CRM_PAY_TOKEN_PEPPER"],
            "CRM_PAY_AUDIT_KEY": secrets["CRM_PAY_AUDIT_KEY"],
            "CRM_PAY_DEV_SECRETS": False,
        }
        other = create_app(config, instance_path=str(tmp_path / f"instance-{len(built)}"))
        built.append(other)
        return other

    yield make
    for other in built:
        get_context(other).db.dispose()


def test_vault_rotate_rewraps_so_the_old_key_can_go(app: Flask, sibling: Any) -> None:
    ctx1 = get_context(app)
    old = ctx1.keyring.to_config()
    assert old.startswith("k1:") and "," not in old
    put_secret(ctx1, "psp.private_key", "sandbox-private-key-value")
    new = f"k2:{KeyRing.generate_key()}"

    app2 = sibling(f"{new},{old}")
    ctx2 = get_context(app2)
    # Before rotation the new ring already reads the old secret.
    assert get_secret(ctx2, "psp.private_key") == "sandbox-private-key-value"
    result = run(app2, "vault", "rotate")
    assert result.exit_code == 0, result.output
    assert "re-wrapped 1 of 1" in result.output
    assert "k2" in result.output
    with ctx2.db.transaction() as s:
        token = s.scalars(select(VaultSecret.ciphertext)).one()
    assert token.startswith("v1.k2.")
    assert "sandbox-private-key-value" not in token

    again = run(app2, "vault", "rotate")
    assert again.exit_code == 0 and "re-wrapped 0 of 1" in again.output

    only_new = sibling(new)
    assert get_secret(get_context(only_new), "psp.private_key") == "sandbox-private-key-value"
    only_old = sibling(old)
    with pytest.raises(VaultError):
        get_secret(get_context(only_old), "psp.private_key")


def test_vault_rotate_with_nothing_stored(app: Flask) -> None:
    result = run(app, "vault", "rotate")
    assert result.exit_code == 0, result.output
    assert "re-wrapped 0 of 0" in result.output


def test_vault_new_key_prints_a_usable_ring_entry(app: Flask) -> None:
    result = run(app, "vault", "new-key", "--kid", "k9")
    assert result.exit_code == 0
    entry = result.output.strip()
    assert entry.startswith("k9:")
    ring = KeyRing.from_config(entry)
    assert ring.active_kid == "k9"
    assert ring.decrypt_text(ring.encrypt_text("x")) == "x"


# --------------------------------------------------------------------------- audit
def _make_payments(app: Flask, n: int) -> None:
    from crm_pay.services.access import create_api_key

    client = app.test_client()
    key = create_api_key(get_context(app), name="audit", role="agent")
    for i in range(n):
        resp = client.post(
            "/pay/api/v1/payments",
            json={"customer": "CUST-0001", "amount": f"{i + 1}.00", "currency": "USD"},
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": uuid.uuid4().hex},
        )
        assert resp.status_code == 201, resp.get_json()
        assert (
            client.post(
                f"/pay/api/v1/payments/{resp.get_json()['id']}/cancel",
                headers={"Authorization": f"Bearer {key}"},
            ).status_code
            == 200
        )


def test_audit_verify_intact_then_broken_after_tampering(app: Flask) -> None:
    _make_payments(app, 3)
    ok = run(app, "audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    ctx = get_context(app)
    with ctx.db.transaction() as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    # 1 key + 3 created + 3 cancelled
    assert len(entries) == 7
    assert f"{len(entries)} entries" in ok.output
    target = next(e for e in entries if e.action == "payment.created")
    assert target.data["amount"] == "1.00"
    with ctx.db.transaction() as s:
        s.execute(
            update(AuditEntry)
            .where(AuditEntry.seq == target.seq)
            .values(data={**target.data, "amount": "0.01"})
        )
    broken = run(app, "audit", "verify")
    assert broken.exit_code == 1
    assert f"BROKEN at entry {target.seq}" in broken.output
    assert "intact" not in broken.output


def test_audit_verify_notices_a_deleted_tail(app: Flask) -> None:
    _make_payments(app, 1)
    ctx = get_context(app)
    with ctx.db.transaction() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        assert last is not None
        s.delete(last)
    result = run(app, "audit", "verify")
    assert result.exit_code == 1
    assert "BROKEN" in result.output


def test_audit_verify_on_an_empty_log(app: Flask) -> None:
    result = run(app, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
