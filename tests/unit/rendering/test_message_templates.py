"""Message templates as the rendering layer sees them: the shipped files of every part,
an edited source handed in (sandboxed, HTML escaped), the failures it raises with their
part and line, and the variable list the editor shows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from crm_pay.domain.receipt import Merchant
from crm_pay.rendering.email import message_values, render_email, render_sms
from crm_pay.rendering.email_samples import (
    COMMON_VARIABLES,
    MESSAGE_KINDS,
    VARIABLES,
    channels_of,
    sample_notices,
)
from crm_pay.rendering.message_templates import (
    MessageTemplates,
    TemplateFailure,
    default_source,
)

MERCHANT = Merchant(name="Northwind & Co.", address="1 Main St", phone="+16175550100")
BASE = "https://shop.test/pay"


def _samples(kind: str) -> list[Any]:
    return sample_notices(kind, merchant=MERCHANT, currency="USD", base_url=BASE)


@pytest.mark.parametrize("kind", list(MESSAGE_KINDS))
def test_the_editor_lists_exactly_the_variables_each_kind_is_rendered_with(kind: str) -> None:
    for notice in _samples(kind):
        assert set(message_values(kind, notice)) == set(VARIABLES[kind]) | {"merchant", "lang"}
    assert set(COMMON_VARIABLES) == {"merchant", "subject", "lang"}


@pytest.mark.parametrize("kind", list(MESSAGE_KINDS))
def test_every_part_of_every_kind_has_a_shipped_file(kind: str) -> None:
    for part in ("subject", "text", "html"):
        assert default_source(kind, part).strip()
    if "sms" in channels_of(kind):
        assert "{{ merchant.name }}" in default_source(kind, "sms")


def test_an_edited_html_body_escapes_what_it_shows() -> None:
    evil = replace(_samples("pay_link")[0], customer_name="<script>alert(1)</script>")
    edited = MessageTemplates(html="<p>Hi {{ n.customer_name }}</p><a href='{{ n.url }}'>pay</a>")
    email = render_email("pay_link", evil, edited)
    assert "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>" in email.html
    assert email.text.startswith("Hello <script>")  # the text part stays plain (shipped)


def test_an_edited_part_that_fails_names_its_part_and_line() -> None:
    edited = MessageTemplates(sms="Pay {{ n.url }}\n{{ n.invoices[3] }}")
    with pytest.raises(TemplateFailure) as failed:
        render_sms("pay_link", _samples("pay_link")[0], edited)
    assert str(failed.value).startswith("SMS, line 2: ")
    assert failed.value.part == "sms" and failed.value.line == 2


def test_python_internals_are_out_of_reach_of_an_edited_part() -> None:
    edited = MessageTemplates(text="{{ n.url }} {{ n.__class__.__init__.__globals__ }}")
    with pytest.raises(TemplateFailure, match="not allowed"):
        render_email("pay_link", _samples("pay_link")[0], edited)


def test_an_edited_body_without_the_pay_link_fails_unless_it_is_a_preview() -> None:
    edited = MessageTemplates(text="Please pay {{ amount }}.")
    notice = _samples("pay_link")[0]
    with pytest.raises(TemplateFailure, match="Text body: it does not show the pay link"):
        render_email("pay_link", notice, edited)
    preview = render_email("pay_link", notice, edited, check_required=False)
    assert preview.text == "Please pay USD 125.00."
