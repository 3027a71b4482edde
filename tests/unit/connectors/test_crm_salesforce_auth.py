"""Salesforce connector: OAuth (JWT bearer, client credentials), token cache and refresh,
401 recovery, and secrets kept out of logs and errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import requests
import responses
from responses import matchers
from test_crm_salesforce_support import (
    ACCOUNT,
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    INSTANCE,
    TOKEN_URL,
    FakeClock,
    add_jwt_token,
    bearer,
    key_pair,
    make_crm,
    soql,
    token_body,
)

from connectors.crm.salesforce import SECRET_FIELDS, SETTINGS_FIELDS, SalesforceCrm, from_config
from crm_pay.domain.errors import ConfigurationError
from crm_pay.domain.money import Money
from crm_pay.ports import BatchingCrm, CrmAuthFailed, CrmCallFailed, CrmConnector, CrmTimeline

BALANCE_URL = f"{API}/sobjects/Account/{ACCOUNT}"
FIND_QUERY = "SELECT Id, Name, Phone FROM Account WHERE Id = '001Dn00000AbCdEIAZ' LIMIT 1"
EMPTY_QUERY = {"totalSize": 0, "done": True, "records": []}


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def balance_call(rsps: responses.RequestsMock, access: str, status: int = 204, **kw) -> None:
    rsps.patch(
        BALANCE_URL,
        status=status,
        match=[bearer(access), matchers.json_params_matcher({"Balance__c": 10.0, "Credit__c": 0})],
        **kw,
    )


def update_balance(crm: SalesforceCrm) -> None:
    crm.update_balance(ACCOUNT, Money(1000, "USD"), Money(0, "USD"))


def test_implements_the_crm_port_and_its_options(clock: FakeClock) -> None:
    crm = make_crm(clock)
    assert isinstance(crm, CrmConnector)
    assert isinstance(crm, BatchingCrm) and crm.max_batch == 200
    assert isinstance(crm, CrmTimeline)
    assert crm.name == "salesforce"


def test_form_fields_describe_every_setting_and_secret() -> None:
    names = [f.name for f in SETTINGS_FIELDS]
    assert names[:5] == ["login_url", "auth_flow", "client_id", "username", "api_version"]
    assert [f.name for f in SECRET_FIELDS] == ["private_key", "client_secret"]
    assert all(f.label and f.help for f in (*SETTINGS_FIELDS, *SECRET_FIELDS))


def test_jwt_bearer_posts_a_signed_assertion_and_uses_instance_url(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    add_jwt_token(rsps, clock)  # the matcher decodes the JWT and checks claims + signature
    balance_call(rsps, "00Dxx!AQ4AQtok1")
    update_balance(make_crm(clock))


def test_client_credentials_posts_the_consumer_key_and_secret(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    rsps.post(
        TOKEN_URL.replace("login.salesforce.com", "acme.my.salesforce.com"),
        json=token_body("cc-token"),
        match=[matchers.urlencoded_params_matcher(form)],
    )
    balance_call(rsps, "cc-token")
    crm = make_crm(clock, flow="client_credentials", login_url=INSTANCE)
    update_balance(crm)


def test_token_is_cached_across_calls(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    add_jwt_token(rsps, clock)
    balance_call(rsps, "00Dxx!AQ4AQtok1")
    balance_call(rsps, "00Dxx!AQ4AQtok1")
    crm = make_crm(clock)
    update_balance(crm)
    clock.now += 60 * 60  # an hour later: still inside the 2-hour session
    update_balance(crm)
    assert len([c for c in rsps.calls if c.request.url == TOKEN_URL]) == 1


def test_token_is_refreshed_before_the_session_times_out(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    add_jwt_token(rsps, clock, "first")
    balance_call(rsps, "first")
    crm = make_crm(clock, session_timeout_minutes="30")
    update_balance(crm)
    clock.now += 26 * 60  # less than 5 minutes left: renew first, never meet a 401
    add_jwt_token(rsps, clock, "second")
    balance_call(rsps, "second")
    update_balance(crm)


def test_invalid_session_refreshes_once_and_retries(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    add_jwt_token(rsps, clock, "revoked")
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    balance_call(rsps, "revoked", status=401, json=expired)
    add_jwt_token(rsps, clock, "fresh")
    balance_call(rsps, "fresh")
    update_balance(make_crm(clock))


def test_a_second_401_is_an_auth_failure_with_salesforces_message(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    add_jwt_token(rsps, clock, "one")
    balance_call(rsps, "one", status=401, json=expired)
    add_jwt_token(rsps, clock, "two")
    balance_call(rsps, "two", status=401, json=expired)
    with pytest.raises(CrmAuthFailed) as caught:
        update_balance(make_crm(clock))
    assert caught.value.crm_message == "Session expired or invalid"
    assert caught.value.retryable  # nothing is lost while the credentials are wrong


def test_refused_credentials_quote_error_and_description(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
    )
    with pytest.raises(CrmAuthFailed) as caught:
        update_balance(make_crm(clock))
    assert caught.value.crm_message == "invalid_grant: user hasn't approved this consumer"


def test_login_server_outage_is_retryable(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.post(TOKEN_URL, status=503, body="<html>maintenance</html>")
    with pytest.raises(CrmCallFailed) as caught:
        update_balance(make_crm(clock))
    assert caught.value.retryable and not isinstance(caught.value, CrmAuthFailed)


def test_timeout_is_retryable(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    add_jwt_token(rsps, clock)
    rsps.patch(BALANCE_URL, body=requests.Timeout("read timed out"))
    with pytest.raises(CrmCallFailed) as caught:
        update_balance(make_crm(clock))
    assert caught.value.retryable


def test_a_token_response_pointing_at_plain_http_is_refused(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.post(TOKEN_URL, json=token_body(instance="http://evil.example"))
    with pytest.raises(CrmCallFailed, match="https instance_url"):
        update_balance(make_crm(clock))


def test_a_bad_private_key_is_reported_without_quoting_it(clock: FakeClock) -> None:
    bad = "-----BEGIN PRIVATE KEY-----\nTOP-SECRET-MATERIAL\n-----END PRIVATE KEY-----\n"
    crm = make_crm(clock, secrets={"private_key": bad})
    with pytest.raises(CrmAuthFailed) as caught:
        update_balance(crm)
    assert "not a PEM-encoded RSA private key" in str(caught.value)
    assert "TOP-SECRET" not in str(caught.value) and caught.value.__cause__ is None


def test_settings_are_checked_with_a_fix_in_the_message() -> None:
    with pytest.raises(ConfigurationError, match="username is required for JWT bearer"):
        SalesforceCrm({"client_id": CLIENT_ID}, {})
    with pytest.raises(ConfigurationError, match="https URL"):
        SalesforceCrm({"client_id": "x", "username": "u", "login_url": "http://login"}, {})
    with pytest.raises(ConfigurationError, match="not an API name"):
        SalesforceCrm({"client_id": "x", "username": "u"}, {}, {"payment_object": "X WHERE"})
    with pytest.raises(ConfigurationError, match="unknown Salesforce mapping key"):
        SalesforceCrm({"client_id": "x", "username": "u"}, {}, {"balance": "B__c"})


def test_secrets_never_reach_logs_or_error_messages(
    rsps: responses.RequestsMock, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pem = key_pair()[0]
    access = "00Dxx!AQ4AQsessionSECRET"
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    # JWT: a session revoked twice, then a validation error; client credentials refused.
    add_jwt_token(rsps, clock, access)
    rsps.get(f"{API}/query", status=401, json=expired, match=[soql(FIND_QUERY)])
    add_jwt_token(rsps, clock, access)
    rsps.get(f"{API}/query", status=401, json=expired, match=[soql(FIND_QUERY)])
    crm = make_crm(clock)
    errors: list[BaseException] = []
    with pytest.raises(CrmAuthFailed) as first:
        crm.find_customer(ACCOUNT)
    errors.append(first.value)
    rsps.post(
        TOKEN_URL.replace("login.salesforce.com", "acme.my.salesforce.com"),
        status=400,
        json={"error": "invalid_client", "error_description": "invalid client credentials"},
    )
    cc = make_crm(clock, flow="client_credentials", login_url=INSTANCE)
    with pytest.raises(CrmAuthFailed) as second:
        cc.find_customer(ACCOUNT)
    errors.append(second.value)
    report = cc.test_connection()  # refused again, shown to the admin
    shown = [str(e) for e in errors] + [getattr(e, "crm_message", "") for e in errors]
    shown += [repr(crm), repr(cc), repr(report), caplog.text]
    for text in shown:
        for secret in (access, CLIENT_SECRET, pem, pem.splitlines()[1]):
            assert secret not in text
    assert report.checks[0][2] == "invalid_client: invalid client credentials"


def test_rows_are_read_with_the_token_in_a_header_only(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    add_jwt_token(rsps, clock)
    rsps.get(f"{API}/query", json=EMPTY_QUERY, match=[bearer(), soql(FIND_QUERY)])
    assert make_crm(clock).find_customer(ACCOUNT) is None
    assert "tok1" not in rsps.calls[-1].request.url


def test_from_config_reads_settings_vault_secrets_and_mapping(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    config = {
        "CRM_PAY_SALESFORCE_CLIENT_ID": CLIENT_ID,
        "CRM_PAY_SALESFORCE_AUTH_FLOW": "client_credentials",
        "CRM_PAY_SALESFORCE_LOGIN_URL": INSTANCE,
        "CRM_PAY_SALESFORCE_MAPPING": {"customer_email_field": "PersonEmail"},
    }
    vault = {"crm.salesforce.client_secret": CLIENT_SECRET}
    crm = from_config(config, instance_path="/tmp", secret=vault.get)
    assert crm.settings.auth_flow == "client_credentials"
    assert crm.settings.login_url == INSTANCE
    assert crm.fields["customer_email_field"] == "PersonEmail"
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    rsps.post(
        f"{INSTANCE}/services/oauth2/token",
        json=token_body("cc-token"),
        match=[matchers.urlencoded_params_matcher(form)],
    )
    balance_call(rsps, "cc-token")
    update_balance(crm)
