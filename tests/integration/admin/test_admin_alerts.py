"""Security alerts are visible to the admin on the overview."""

from __future__ import annotations

from flask.testing import FlaskClient

from connectors.psp.braintree_sandbox import SandboxServer


def test_a_forged_webhook_shows_as_an_alert(
    admin: FlaskClient, client: FlaskClient, sandbox: SandboxServer
) -> None:
    assert b'id="alerts"' not in admin.get("/pay/admin/").data
    form = sandbox.webhook_form("check", "check")
    public_key, _, mac = form["bt_signature"].partition("|")
    forged = {"bt_signature": f"{public_key}|{'0' * len(mac)}", "bt_payload": form["bt_payload"]}
    assert client.post("/pay/webhooks/braintree", data=forged).status_code == 400
    page = admin.get("/pay/admin/").get_data(as_text=True)
    assert 'id="alerts"' in page
    assert "invalid signature was received and not processed" in page
