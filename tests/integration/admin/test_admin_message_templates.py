"""An admin edits a message template through the console, on the sandbox app: Preview
shows the words with sample data and saves nothing; Save refuses a template with a
problem (named, with what was typed kept) and a form without the CSRF token; a saved
version is what the next receipt in the file mailbox says; Reset brings the shipped
words back; the page shows the history. Admin role only."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crm_pay.current import get_context
from crm_pay.rendering.message_templates import default_source
from crm_pay.services import notification_templates
from crm_pay.services.context import Context
from crm_pay.worker import make_dispatcher
from paytest import csrf_of, paid

PAGE = "/pay/admin/notifications/templates/receipt"
SHIPPED = "Thank you for your payment of"
EDITED = "Many thanks for your payment of"


def _receipt_texts(ctx: Context) -> list[str]:
    """The receipts ``ctx``'s dispatcher delivers now, as its mailbox has them."""
    make_dispatcher(ctx).drain()
    mailbox: Any = ctx.email
    return [
        mailbox.read(e.message_id).text
        for e in mailbox.list_messages()
        if e.subject.startswith("Your receipt")
    ]


def _textarea(page: str, part: str) -> str:
    found = re.search(rf'<textarea[^>]*name="{part}"[^>]*>\n(.*?)</textarea>', page, re.S)
    assert found, f"no {part} textarea"
    return html.unescape(found.group(1))


def _form(page: str, **parts: str) -> dict[str, str]:
    fields = {p: _textarea(page, p) for p in ("subject", "text", "html")}
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version
    return {"csrf_token": csrf_of(page), "version": version.group(1), **fields, **parts}


def test_the_admin_previews_saves_and_resets_a_template_and_receipts_follow(
    admin: FlaskClient, client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    listing = admin.get("/pay/admin/notifications/").text
    assert 'data-kind="receipt" data-edited="no"' in listing
    page = admin.get(PAGE).text
    assert _textarea(page, "text") == default_source("receipt", "text")
    assert "<code>receipt.number</code>" in page and "the receipt number" in page
    assert "Never edited" in page
    edited_text = _textarea(page, "text").replace(SHIPPED, EDITED)

    preview = admin.post(PAGE, data={**_form(page, text=edited_text), "action": "preview"})
    assert preview.status_code == 200
    assert "Preview: not saved" in preview.text
    assert f"{EDITED} USD 125.00" in html.unescape(preview.text)  # the sample, rendered
    assert 'data-kind="receipt" data-edited="no"' in admin.get("/pay/admin/notifications/").text

    broken = edited_text.replace("{{ total }}", "{{ totl }}")
    refused = admin.post(PAGE, data={**_form(page, text=broken), "action": "save"})
    assert refused.status_code == 422
    assert "Not saved." in refused.text and "unknown variable “totl”" in refused.text
    assert _textarea(refused.text, "text") == broken  # nothing typed is lost
    forged = {**_form(page, text=edited_text), "action": "save", "csrf_token": "forged"}
    assert admin.post(PAGE, data=forged).status_code == 400
    assert "Never edited" in admin.get(PAGE).text

    saved = admin.post(PAGE, data={**_form(page, text=edited_text), "action": "save"})
    assert saved.status_code == 303
    page = admin.get(PAGE).text
    assert "Saved as version 1" in page and "Version 1" in page
    assert "saved by user:" in page
    assert f'<span class="add">+ {EDITED} {{{{ total }}}}' in html.unescape(page)
    assert 'data-kind="receipt" data-edited="yes"' in admin.get("/pay/admin/notifications/").text

    paid(client, auth, "31.00")
    [receipt] = _receipt_texts(ctx)
    assert f"{EDITED} USD 31.00" in receipt and SHIPPED not in receipt

    reset = admin.post(f"{PAGE}/reset", data={"csrf_token": csrf_of(page)})
    assert reset.status_code == 303
    page = admin.get(PAGE).text
    assert "Back to the shipped words (version 2)" in page
    assert "reset to the shipped words" in page and _textarea(page, "text") == (
        default_source("receipt", "text")
    )
    paid(client, auth, "32.00")
    assert any(f"{SHIPPED} USD 32.00" in text for text in _receipt_texts(ctx))


def test_a_save_is_in_force_in_another_process_on_the_same_database(
    admin: FlaskClient,
    client: FlaskClient,
    auth: dict[str, str],
    ctx: Context,
    make_app: Callable[..., Flask],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = get_context(make_app())  # another app: its own template cache, as a worker
    paid(client, auth, "33.00")
    assert any(f"{SHIPPED} USD 33.00" in t for t in _receipt_texts(worker))
    page = admin.get(PAGE).text
    edited = _textarea(page, "text").replace(SHIPPED, EDITED)
    assert admin.post(PAGE, data={**_form(page, text=edited), "action": "save"}).status_code == 303
    monkeypatch.setattr(notification_templates, "RECHECK_SECONDS", 0.0)  # its next look
    paid(client, auth, "34.00")
    assert any(f"{EDITED} USD 34.00" in t for t in _receipt_texts(worker))


def test_a_save_over_someone_else_s_keeps_the_words_and_says_so(admin: FlaskClient) -> None:
    url = "/pay/admin/notifications/templates/pay_link"
    page = admin.get(url).text
    first = {**_form(page, subject="{{ merchant.name }}: {{ amount }}"), "action": "save"}
    first["sms"] = _textarea(page, "sms")
    assert admin.post(url, data=first).status_code == 303
    stale = {**first, "subject": "Please pay {{ amount }}"}  # still from version 0
    answer = admin.post(url, data=stale)
    assert answer.status_code == 409
    assert "saved again (version 1" in answer.text
    assert _textarea(answer.text, "subject") == "Please pay {{ amount }}"


def test_only_admins_reach_the_template_editor(agent: FlaskClient, admin: FlaskClient) -> None:
    token = csrf_of(agent.get("/pay/agent/").text)
    assert agent.get(PAGE).status_code == 403
    assert agent.post(PAGE, data={"csrf_token": token, "action": "save"}).status_code == 403
    assert agent.post(f"{PAGE}/reset", data={"csrf_token": token}).status_code == 403
    assert admin.get("/pay/admin/notifications/templates/nope").status_code == 404
