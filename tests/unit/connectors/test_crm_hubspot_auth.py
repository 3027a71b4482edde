"""HubSpot connector: private-app and OAuth authentication, token caching and renewal,
configuration errors, and secrets kept out of logs and error messages."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import responses
from responses import matchers

from connectors.crm.hubspot import SECRET_FIELDS, SETTINGS_FIELDS, HubSpotCrm
from crm_pay.domain.errors import ConfigurationError
from crm_pay.ports import BatchingCrm, CrmAuthFailed, CrmCallFailed, CrmConnector, CrmTimeline
from crm_pay.testing import EpochClock

API = "https://api.hubapi.com"
CONTACT_URL = f"{API}/crm/v3/objects/contacts/101"
TOKEN_URL = f"{API}/oauth/v1/token"
PAT = "pat-na1-SECRET-private-token"
CLIENT_SECRET = "cs-SECRET-client-secret"
REFRESH = "rt-SECRET-refresh-token"
ACCESS_1 = "at-SECRET-access-one"
ACCESS_2 = "at-SECRET-access-two"
SECRETS = (PAT, CLIENT_SECRET, REFRESH, ACCESS_1, ACCESS_2)
CONTACT = {
    "id": "101",
    "properties": {"firstname": "Ada", "lastname": "Lovelace", "email": "ada@example.com"},
}
REFRESH_FORM = {
    "grant_type": "refresh_token",
    "refresh_token": REFRESH,
    "client_id": "client-123",
    "client_secret": CLIENT_SECRET,
}


def Clock() -> EpochClock:  # noqa: N802 - the shared fake clock, under this file's old name
    return EpochClock(1_767_000_000.0)


@pytest.fixture
def hs() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def clock() -> Clock:
    return Clock()


def oauth_crm(clock: Clock) -> HubSpotCrm:
    return HubSpotCrm(
        {"auth": "oauth", "client_id": "client-123"},
        {"client_secret": CLIENT_SECRET, "refresh_token": REFRESH},
        clock=clock,
    )


def token_answer(hs: responses.RequestsMock, access: str, *, expires_in: int = 1800) -> None:
    hs.post(
        TOKEN_URL,
        json={
            "token_type": "bearer",
            "refresh_token": REFRESH,
            "access_token": access,
            "expires_in": expires_in,
        },
        match=[matchers.urlencoded_params_matcher(REFRESH_FORM)],
    )


def contact_answer(hs: responses.RequestsMock, bearer: str, *, status: int = 200) -> None:
    body = CONTACT if status == 200 else {"status": "error", "message": "Authentication failed"}
    hs.get(
        CONTACT_URL,
        json=body,
        status=status,
        match=[matchers.header_matcher({"Authorization": f"Bearer {bearer}"})],
    )


def test_it_implements_the_crm_port_and_both_capabilities() -> None:
    crm = HubSpotCrm({"auth": "private_app"}, {"access_token": PAT})
    assert isinstance(crm, CrmConnector)
    assert isinstance(crm, BatchingCrm)
    assert isinstance(crm, CrmTimeline)
    assert crm.max_batch == 100
    assert {f.name for f in SETTINGS_FIELDS} >= {"auth", "base_url", "client_id"}
    assert [f.name for f in SECRET_FIELDS] == ["access_token", "client_secret", "refresh_token"]


def test_private_app_token_is_sent_as_bearer(hs: responses.RequestsMock) -> None:
    contact_answer(hs, PAT)
    crm = HubSpotCrm({"auth": "private_app"}, {"access_token": PAT})
    found = crm.find_customer("101")
    assert found is not None and found.name == "Ada Lovelace"


def test_private_app_token_refused_is_an_auth_failure_with_hubspot_words(
    hs: responses.RequestsMock,
) -> None:
    contact_answer(hs, PAT, status=401)
    crm = HubSpotCrm({"auth": "private_app"}, {"access_token": PAT})
    with pytest.raises(CrmAuthFailed) as caught:
        crm.find_customer("101")
    assert caught.value.retryable is True  # nothing is lost while the admin fixes it
    assert caught.value.crm_message == "Authentication failed"


def test_oauth_refreshes_once_and_caches_the_token(
    hs: responses.RequestsMock, clock: Clock
) -> None:
    token_answer(hs, ACCESS_1)
    contact_answer(hs, ACCESS_1)
    contact_answer(hs, ACCESS_1)
    crm = oauth_crm(clock)
    crm.find_customer("101")
    clock.now += 600  # well inside the 30 minutes
    crm.find_customer("101")
    assert sum(call.request.url == TOKEN_URL for call in hs.calls) == 1


def test_oauth_token_is_renewed_before_it_expires(hs: responses.RequestsMock, clock: Clock) -> None:
    token_answer(hs, ACCESS_1)
    contact_answer(hs, ACCESS_1)
    crm = oauth_crm(clock)
    crm.find_customer("101")
    clock.now += 1800 - 120  # two minutes before expiry: inside the renewal margin
    token_answer(hs, ACCESS_2)
    contact_answer(hs, ACCESS_2)
    crm.find_customer("101")
    assert [c.request.url for c in hs.calls].count(TOKEN_URL) == 2


def test_a_401_renews_the_token_and_retries_once(hs: responses.RequestsMock, clock: Clock) -> None:
    token_answer(hs, ACCESS_1)
    contact_answer(hs, ACCESS_1, status=401)  # revoked early, HubSpot side
    token_answer(hs, ACCESS_2)
    contact_answer(hs, ACCESS_2)
    found = oauth_crm(clock).find_customer("101")
    assert found is not None and found.crm_ref == "101"
    assert len(hs.calls) == 4


def test_a_second_401_after_renewal_is_an_auth_failure(
    hs: responses.RequestsMock, clock: Clock
) -> None:
    token_answer(hs, ACCESS_1)
    contact_answer(hs, ACCESS_1, status=401)
    token_answer(hs, ACCESS_2)
    contact_answer(hs, ACCESS_2, status=401)
    with pytest.raises(CrmAuthFailed):
        oauth_crm(clock).find_customer("101")
    assert len(hs.calls) == 4  # exactly one retry, no loop


def test_a_refused_refresh_token_says_what_hubspot_said(
    hs: responses.RequestsMock, clock: Clock
) -> None:
    hs.post(
        TOKEN_URL,
        status=400,
        json={
            "status": "BAD_REFRESH_TOKEN",
            "message": "missing or invalid refresh token",
            "correlationId": "5d2c9e3a-0000-4000-8000-000000000000",
        },
        match=[matchers.urlencoded_params_matcher(REFRESH_FORM)],
    )
    with pytest.raises(CrmAuthFailed) as caught:
        oauth_crm(clock).find_customer("101")
    assert caught.value.crm_message == "missing or invalid refresh token"


def test_token_endpoint_outage_is_retryable(hs: responses.RequestsMock, clock: Clock) -> None:
    hs.post(TOKEN_URL, status=503, json={"status": "error", "message": "Service Unavailable"})
    with pytest.raises(CrmCallFailed) as caught:
        oauth_crm(clock).find_customer("101")
    assert not isinstance(caught.value, CrmAuthFailed)
    assert caught.value.retryable is True


def test_a_new_refresh_token_is_handed_to_the_caller(
    hs: responses.RequestsMock, clock: Clock
) -> None:
    hs.post(
        TOKEN_URL,
        json={"access_token": ACCESS_1, "refresh_token": "rt-rotated", "expires_in": 1800},
        match=[matchers.urlencoded_params_matcher(REFRESH_FORM)],
    )
    contact_answer(hs, ACCESS_1)
    stored: list[str] = []
    crm = HubSpotCrm(
        {"auth": "oauth", "client_id": "client-123"},
        {"client_secret": CLIENT_SECRET, "refresh_token": REFRESH},
        clock=clock,
        on_refresh_token=stored.append,
    )
    crm.find_customer("101")
    assert stored == ["rt-rotated"]


def test_secrets_never_reach_logs_reprs_or_errors(
    hs: responses.RequestsMock, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token_answer(hs, ACCESS_1)
    contact_answer(hs, ACCESS_1, status=401)
    hs.post(TOKEN_URL, status=400, json={"status": "BAD_REFRESH_TOKEN", "message": "expired"})
    crm = oauth_crm(clock)
    with pytest.raises(CrmAuthFailed) as caught:
        crm.find_customer("101")
    error = caught.value
    seen = [caplog.text, str(error), repr(error), error.crm_message, repr(crm), repr(vars(crm))]
    seen += [str(error.__cause__), str(error.__context__)]
    for secret in SECRETS:
        assert all(secret not in text for text in seen), secret


@pytest.mark.parametrize(
    ("settings", "secrets", "names"),
    [
        ({"auth": "private_app"}, {}, "access_token"),
        ({"auth": "oauth"}, {"client_secret": CLIENT_SECRET}, "client_id, refresh_token"),
        ({"auth": "api_key"}, {"access_token": PAT}, "'private_app' or 'oauth'"),
        ({"auth": "private_app", "base_url": "http://x"}, {"access_token": PAT}, "https://"),
    ],
)
def test_configuration_errors_name_the_field_and_hide_secrets(
    settings: dict[str, str], secrets: dict[str, str], names: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        HubSpotCrm(settings, secrets)
    assert names in str(caught.value)
    assert all(secret not in str(caught.value) for secret in SECRETS)


def test_a_mapping_with_an_unknown_key_or_bad_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown keys: balanse_property"):
        HubSpotCrm({}, {"access_token": PAT}, {"balanse_property": "x"})
    with pytest.raises(ConfigurationError, match="'payment_object'"):
        HubSpotCrm({}, {"access_token": PAT}, {"payment_object": "Payments!"})
