"""CrmPayConfig: one typed parse of every CRM_PAY_* key, with errors that say what to
fix, and docs/configuration.md's table generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_pay.config import (
    DEFAULTS,
    CrmPayConfig,
    environment_settings,
    parse_setting,
    render_markdown,
    splice_markdown,
)
from crm_pay.domain.errors import ConfigurationError
from crm_pay.services.context import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_defaults_parse_and_every_key_is_declared_once() -> None:
    config = CrmPayConfig.from_mapping({})
    assert config == CrmPayConfig()
    assert config.as_mapping() == DEFAULTS
    assert all(key.startswith("CRM_PAY_") for key in DEFAULTS)


def test_environment_text_is_typed_by_the_field() -> None:
    config = CrmPayConfig.from_mapping(
        {
            "CRM_PAY_DEV_SECRETS": "yes",
            "CRM_PAY_SECURE_COOKIES": "off",
            "CRM_PAY_SMTP_PORT": " 465 ",
            "CRM_PAY_SMTP_TIMEOUT": "2.5",
            "CRM_PAY_MERCHANT_TAX_ID": "0987654321",  # digits stay text
            "CRM_PAY_BRAINTREE_JS_INTEGRITY": '{"client": "sha384-x"}',
            "CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS": "",
            "CRM_PAY_RECEIPT_LINK_TTL": "0.5",
        }
    )
    assert config.dev_secrets is True
    assert config.secure_cookies is False
    assert config.smtp_port == 465
    assert config.smtp_timeout == 2.5
    assert config.merchant_tax_id == "0987654321"
    assert config.braintree_js_integrity == {"client": "sha384-x"}
    assert config.braintree_merchant_accounts is None
    assert config.receipt_link_ttl == 0.5


def test_unknown_keys_are_ignored_and_parse_setting_keeps_them_text() -> None:
    assert CrmPayConfig.from_mapping({"CRM_PAY_SALESFORCE_CLIENT_ID": "{}"}) == CrmPayConfig()
    assert parse_setting("CRM_PAY_SALESFORCE_CLIENT_ID", "{}") == "{}"
    assert parse_setting("CRM_PAY_SALESFORCE_MAPPING", '{"Id": "x"}') == {"Id": "x"}
    assert parse_setting("CRM_PAY_PAY_LINK_TTL", "60") == 60


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"CRM_PAY_DEV_SECRETS": "maybe"}, "CRM_PAY_DEV_SECRETS='maybe': use true or false"),
        ({"CRM_PAY_PAY_LINK_TTL": "600s"}, "is not a number: use a whole number"),
        ({"CRM_PAY_PAY_LINK_TTL": True}, "use a number, not true/false"),
        ({"CRM_PAY_PAY_LINK_TTL": 1.5}, "use a whole number"),
        ({"CRM_PAY_URL_PREFIX": None}, "may not be None: remove it to get the default"),
        ({"CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS": "[1]"}, "must be a JSON object"),
        ({"CRM_PAY_URL_PREFIX": "pay"}, "must start with '/'"),
        ({"CRM_PAY_RECEIPT_PREFIX": "R/"}, "CRM_PAY_RECEIPT_PREFIX='R/'"),
        ({"CRM_PAY_UNKNOWN_WINDOW": 0}, "use a whole number of seconds above 0"),
        ({"CRM_PAY_SETTLEMENT_POLL_INTERVAL": "-1"}, "use a whole number of seconds above 0"),
        ({"CRM_PAY_MAX_BODY_BYTES": 512}, "CRM_PAY_MAX_BODY_BYTES=512: use a whole number"),
        ({"CRM_PAY_MFA_REQUIRED_ROLES": "admin,boss"}, "unknown role(s) boss; use a comma"),
    ],
)
def test_a_wrong_value_says_which_key_and_how_to_fix_it(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        CrmPayConfig.from_mapping(changes)
    assert message in caught.value.message


def test_environment_settings_takes_only_crm_pay_settings() -> None:
    got = environment_settings(
        {
            "CRM_PAY_DEMO": "true",
            "CRM_PAY_INSTANCE_PATH": "/x",
            "CRM_PAY_SECRET_KEY": "s",
            "HOME": "/",
        }
    )
    assert got == {"CRM_PAY_DEMO": "true"}


def test_services_settings_come_from_the_same_defaults() -> None:
    # Settings() of a unit test and the settings of a default app agree.
    built = Settings.from_config(CrmPayConfig(), token_pepper=b"", audit_key=b"")
    assert built == Settings()
    assert Settings().merchant.name == DEFAULTS["CRM_PAY_MERCHANT_NAME"]


def test_docs_configuration_table_is_generated_from_the_config() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render_markdown() in text
    assert splice_markdown(text) == text, (
        "docs/configuration.md differs from CrmPayConfig: run "
        "`python -m crm_pay.config --write docs/configuration.md`"
    )
    for key in DEFAULTS:
        assert f"| `{key}` |" in text
