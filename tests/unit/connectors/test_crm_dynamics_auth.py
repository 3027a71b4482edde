"""Dynamics 365 connector: configuration, client-credentials tokens, 401 recovery, secrecy.

Offline: every call to Entra ID and Dataverse is answered by ``responses``, with matchers
on the documented request shapes, so a wrong request fails the test.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
import requests
import responses
from responses import matchers

from connectors.crm.dynamics import DynamicsCrm
from crm_pay.domain.errors import ConfigurationError
from crm_pay.domain.money import Money
from crm_pay.ports import CrmAuthFailed, CrmCallFailed
from crm_pay.testing import EpochClock

ORG = "https://contoso.crm.dynamics.com"
API = ORG + "/api/data/v9.2/"
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SECRET = "Zq8~fake.Secret-Value_0123456789"
TOKEN_URL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
CONTACT = "00000000-0000-0000-0000-0000000000c1"
SETTINGS = {"tenant_id": TENANT, "client_id": CLIENT, "org_url": ORG}
TOKEN_FORM = {
    "grant_type": "client_credentials",
    "scope": f"{ORG}/.default",
    "client_id": CLIENT,
    "client_secret": SECRET,
}


def Clock() -> EpochClock:  # noqa: N802 - the shared fake clock, under this file's old name
    return EpochClock(1_700_000_000.0)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def crm(clock: Clock) -> DynamicsCrm:
    return DynamicsCrm(SETTINGS, {"client_secret": SECRET}, clock=clock)


def token_ok(mock: responses.RequestsMock, token: str, expires_in: int = 3599) -> None:
    mock.post(
        TOKEN_URL,
        json={
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": token,
        },
        match=[
            matchers.urlencoded_params_matcher(TOKEN_FORM),
            matchers.header_matcher(
                {"Content-Type": re.compile(r"^application/x-www-form-urlencoded\b")}
            ),
        ],
    )


def whoami(mock: responses.RequestsMock, token: str, status: int = 200) -> None:
    body = (
        {"BusinessUnitId": "b1", "UserId": "u1", "OrganizationId": "o1"}
        if status == 200
        else {"error": {"code": "0x80072560", "message": "The token is expired."}}
    )
    mock.get(
        API + "WhoAmI",
        status=status,
        json=body,
        match=[
            matchers.header_matcher({"Authorization": f"Bearer {token}", "OData-Version": "4.0"})
        ],
    )


def contact_get(mock: responses.RequestsMock, token: str) -> None:
    mock.get(
        f"{API}contacts({CONTACT})",
        json={"contactid": CONTACT, "fullname": "Ada Lovelace", "telephone1": "415 555 0142"},
        match=[
            matchers.header_matcher({"Authorization": f"Bearer {token}"}),
            matchers.query_param_matcher(
                {"$select": "contactid,fullname,emailaddress1,telephone1,mobilephone"}
            ),
        ],
    )


# ---------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("settings", "secrets", "mapping", "field"),
    [
        ({**SETTINGS, "client_id": "my-app"}, {"client_secret": SECRET}, None, "client_id"),
        ({**SETTINGS, "org_url": "http://contoso.crm.dynamics.com"}, {}, None, "org_url"),
        ({**SETTINGS, "org_url": f"{ORG}/api"}, {"client_secret": SECRET}, None, "org_url"),
        (SETTINGS, {}, None, "client_secret"),
        (
            SETTINGS,
            {"client_secret": SECRET},
            {"payment_entity_set": "x)/../y"},
            "payment_entity_set",
        ),
        (SETTINGS, {"client_secret": SECRET}, {"nonsense": "x"}, "nonsense"),
    ],
)
def test_bad_configuration_names_the_field(
    settings: dict[str, str], secrets: dict[str, str], mapping: dict[str, str] | None, field: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        DynamicsCrm(
            settings,
            {"client_secret": SECRET, **secrets} if field != "client_secret" else secrets,
            mapping,
        )
    assert field in str(info.value)
    assert SECRET not in str(info.value)


def test_defaults_and_admin_form_fields(crm: DynamicsCrm) -> None:
    assert crm.config.token_url == TOKEN_URL
    assert crm.config.scope == f"{ORG}/.default"
    assert crm.DEFAULT_MAPPING["payment_entity_set"] == "crmpay_payments"
    assert {f.name for f in crm.SETTINGS_FIELDS if f.required} == {
        "tenant_id",
        "client_id",
        "org_url",
    }
    assert [f.name for f in crm.SECRET_FIELDS] == ["client_secret"]


# ---------------------------------------------------------------------------- tokens
def test_token_request_is_client_credentials_and_cached(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    token_ok(mock, "tok-1")
    contact_get(mock, "tok-1")
    contact_get(mock, "tok-1")

    assert crm.find_customer(CONTACT) is not None
    customer = crm.find_customer(CONTACT)

    assert customer is not None and customer.phone == "+14155550142"
    assert sum(call.request.url == TOKEN_URL for call in mock.calls) == 1


def test_token_is_refreshed_before_it_expires(
    mock: responses.RequestsMock, crm: DynamicsCrm, clock: Clock
) -> None:
    token_ok(mock, "tok-1", expires_in=3599)
    contact_get(mock, "tok-1")
    crm.find_customer(CONTACT)

    clock.now += 3599 - 60  # within the refresh margin: do not send a dying token
    token_ok(mock, "tok-2")
    contact_get(mock, "tok-2")
    crm.find_customer(CONTACT)


def test_401_refreshes_the_token_once_and_retries(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    token_ok(mock, "tok-1")
    mock.get(
        f"{API}contacts({CONTACT})",
        status=401,
        body="",
        match=[matchers.header_matcher({"Authorization": "Bearer tok-1"})],
    )
    token_ok(mock, "tok-2")
    contact_get(mock, "tok-2")

    customer = crm.find_customer(CONTACT)

    assert customer is not None and customer.name == "Ada Lovelace"


def test_401_after_refresh_is_an_auth_failure(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    token_ok(mock, "tok-1")
    whoami(mock, "tok-1", status=401)
    token_ok(mock, "tok-2")
    whoami(mock, "tok-2", status=401)

    report = crm.test_connection()

    assert not report.ok
    name, ok, detail = report.checks[1]
    assert (name, ok) == ("identity", False)
    assert "The token is expired." in detail


def test_wrong_secret_is_an_auth_failure_with_microsofts_words(
    mock: responses.RequestsMock, crm: DynamicsCrm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    description = (
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
        "request is the client secret value, not the client secret ID, for a secret added "
        f"to app '{CLIENT}'."
    )
    mock.post(
        TOKEN_URL,
        status=401,
        json={
            "error": "invalid_client",
            "error_description": description,
            "error_codes": [7000215],
        },
        match=[matchers.urlencoded_params_matcher(TOKEN_FORM)],
    )

    with pytest.raises(CrmAuthFailed) as info:
        crm.find_customer(CONTACT)

    assert info.value.retryable  # nothing is lost while the secret is wrong
    assert info.value.crm_message == description
    for text in (str(info.value), repr(info.value), caplog.text, repr(crm), repr(crm.config)):
        assert SECRET not in text


def test_sign_in_outage_is_retryable(mock: responses.RequestsMock, crm: DynamicsCrm) -> None:
    mock.post(TOKEN_URL, status=503, body="Service Unavailable", headers={"Retry-After": "30"})

    with pytest.raises(CrmCallFailed) as info:
        crm.find_customer(CONTACT)

    assert info.value.retryable and not isinstance(info.value, CrmAuthFailed)
    assert info.value.delay == 30.0


def test_timeouts_are_retryable(mock: responses.RequestsMock, crm: DynamicsCrm) -> None:
    token_ok(mock, "tok-1")
    mock.get(f"{API}contacts({CONTACT})", body=requests.exceptions.ReadTimeout("slow"))

    with pytest.raises(CrmCallFailed) as info:
        crm.find_customer(CONTACT)

    assert info.value.retryable


def test_tokens_and_secret_never_reach_logs_or_errors(
    mock: responses.RequestsMock, crm: DynamicsCrm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token_ok(mock, "eyJ0eXAiOiJKV1Qi.secret-token")
    mock.patch(
        f"{API}contacts({CONTACT})",
        status=400,
        json={"error": {"code": "0x80048d19", "message": "Error identified in Payload."}},
    )

    with pytest.raises(CrmCallFailed) as info:
        crm.update_balance(CONTACT, *_money())

    assert info.value.crm_message == "Error identified in Payload."
    assert not info.value.retryable
    for text in (str(info.value), caplog.text):
        assert SECRET not in text
        assert "secret-token" not in text


def _money() -> tuple[Money, Money]:
    return Money(1230, "USD"), Money(0, "USD")


def test_write_refused_twice_raises_auth_failed(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    message = "The token is expired."
    for token in ("tok-1", "tok-2"):
        token_ok(mock, token)
        mock.patch(
            f"{API}contacts({CONTACT})",
            status=401,
            json={"error": {"code": "0x80072560", "message": message}},
            match=[matchers.header_matcher({"Authorization": f"Bearer {token}"})],
        )

    with pytest.raises(CrmAuthFailed) as info:
        crm.update_balance(CONTACT, *_money())

    assert info.value.retryable and info.value.crm_message == message
