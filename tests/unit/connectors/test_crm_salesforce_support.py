"""Shared builders for the Salesforce connector tests (no tests here).

Request and response shapes follow Salesforce's REST API and OAuth documentation: token
responses carry ``instance_url`` and ``id`` but no ``expires_in``; errors are
``[{"message", "errorCode", "fields"}]``; sObject Collections answer one ``UpsertResult``
per record.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from responses import matchers

from connectors.crm.salesforce import SalesforceCrm
from crm_pay.domain.money import Money
from crm_pay.ports import CrmPaymentRecord
from crm_pay.testing import EpochClock

LOGIN = "https://login.salesforce.com"
TOKEN_URL = f"{LOGIN}/services/oauth2/token"
INSTANCE = "https://acme.my.salesforce.com"
API = f"{INSTANCE}/services/data/v60.0"
IDENTITY_URL = f"{LOGIN}/id/00Dxx0000001gPLEAY/005xx000001Sv6AAAS"
CLIENT_ID = "3MVG9test.consumer.key"
USERNAME = "integration@acme.example"
CLIENT_SECRET = "cs-7F3A9E-very-secret-consumer-secret"
ACCOUNT = "001Dn00000AbCdEIAZ"
ACCOUNT_2 = "001Dn00000AbCdFIAZ"
PAYMENT_SF_ID = "a0BDn00000XyZ12MAF"
T0 = 1_767_000_000.0  # a fixed "now" for the fake clock
WHEN = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


FakeClock = EpochClock  # the shared fake clock (crm_pay.testing), starting at T0


@functools.cache
def key_pair() -> tuple[str, RSAKey]:
    """A throwaway RSA key made at test time: (private PEM, public key for verifying)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, RSAKey.import_key(public)


def make_crm(
    clock: FakeClock,
    *,
    flow: str = "jwt_bearer",
    mapping: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    **settings: str,
) -> SalesforceCrm:
    base = {"client_id": CLIENT_ID, "auth_flow": flow, "api_version": "v60.0"}
    if flow == "jwt_bearer":
        base["username"] = USERNAME
    if secrets is None:
        secrets = {"private_key": key_pair()[0]} if flow == "jwt_bearer" else {}
        if flow == "client_credentials":
            secrets = {"client_secret": CLIENT_SECRET}
    return SalesforceCrm(
        {**base, **settings}, secrets, mapping, session=requests.Session(), clock=clock
    )


def token_body(access: str = "00Dxx!AQ4AQtok1", instance: str = INSTANCE) -> dict[str, Any]:
    return {
        "access_token": access,
        "signature": "c2lnbmF0dXJl",
        "scope": "api",
        "instance_url": instance,
        "id": IDENTITY_URL,
        "token_type": "Bearer",
        "issued_at": "1767000000000",
    }


def jwt_grant(clock: FakeClock) -> Callable[[requests.PreparedRequest], tuple[bool, str]]:
    """Match a JWT bearer token request whose assertion is signed by our test key and
    carries Salesforce's claims: iss = consumer key, sub = username, aud = login URL,
    exp at most 3 minutes ahead."""

    def match(request: requests.PreparedRequest) -> tuple[bool, str]:
        form = parse_qs(str(request.body))
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return False, f"grant_type is {form.get('grant_type')}"
        if set(form) != {"grant_type", "assertion"}:
            return False, f"unexpected form fields {sorted(form)}"
        token = jwt.decode(form["assertion"][0], key_pair()[1], algorithms=["RS256"])
        claims = token.claims
        if token.header.get("alg") != "RS256":
            return False, "not RS256"
        expected = {"iss": CLIENT_ID, "sub": USERNAME, "aud": LOGIN}
        if {k: claims.get(k) for k in expected} != expected:
            return False, f"claims {claims}"
        if not clock.now < claims["exp"] <= clock.now + 180:
            return False, f"exp {claims['exp']} not within 3 minutes of {clock.now}"
        return True, ""

    return match


def add_jwt_token(rsps: responses.RequestsMock, clock: FakeClock, access: str = "00Dxx!AQ4AQtok1"):
    return rsps.post(TOKEN_URL, json=token_body(access), match=[jwt_grant(clock)])


def add_identity(rsps: responses.RequestsMock, access: str = "00Dxx!AQ4AQtok1") -> None:
    rsps.get(
        IDENTITY_URL,
        json={"username": USERNAME, "user_id": "005xx000001Sv6AAAS", "display_name": "Integration"},
        match=[bearer(access)],
    )


def bearer(access: str = "00Dxx!AQ4AQtok1") -> Any:
    return matchers.header_matcher({"Authorization": f"Bearer {access}"})


def soql(query: str) -> Any:
    return matchers.query_param_matcher({"q": query})


def payment(
    payment_id: str = "pay_01HZX3",
    *,
    customer_ref: str = ACCOUNT,
    status: str = "settled",
    receipt_number: str | None = "R-2026-000123",
    card_brand: str | None = "Visa",
) -> CrmPaymentRecord:
    return CrmPaymentRecord(
        payment_id=payment_id,
        customer_ref=customer_ref,
        status=status,
        amount=Money(54_130, "USD"),
        channel="link",
        card_brand=card_brand,
        card_last4="1111",
        psp_reference="bt_txn_9f8e7d",
        receipt_number=receipt_number,
        created_at=WHEN,
        updated_at=WHEN,
    )


def payment_fields(record: CrmPaymentRecord) -> dict[str, Any]:
    """The JSON Salesforce should receive for ``record`` with the default mapping."""
    return {
        "Account__c": record.customer_ref,
        "Amount__c": 541.30,
        "Currency__c": "USD",
        "Status__c": record.status,
        "Channel__c": "link",
        "Card_Brand__c": record.card_brand,
        "Card_Last4__c": "1111",
        "PSP_Reference__c": "bt_txn_9f8e7d",
        "Receipt_Number__c": record.receipt_number,
        "Created_At__c": "2026-03-02T15:00:00.000Z",
        "Updated_At__c": "2026-03-02T15:00:00.000Z",
    }
