"""HubSpot request signature v3 (CRM card requests): valid, tampered, expired, malformed.

The vectors were computed with HubSpot's documented algorithm: base64 of
HMAC-SHA256(client secret, method + URI + body + timestamp), timestamp in milliseconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from connectors.crm.hubspot import hubspot_signature_v3, verify_hubspot_signature_v3

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = (
    "https://crm-pay.example.com/pay/hubspot/card"
    "?portalId=62515&associatedObjectId=101&userEmail=agent@example.com"
)
TIMESTAMP = "1767000000000"
NOW = 1_767_000_000 + 42  # 42 seconds after HubSpot signed
GET_SIGNATURE = "elfJShrw+8Vuz3LozAQSprmLCe1xbZO6KDk6/JBW2mg="
POST_BODY = '{"objectId":101}'
POST_SIGNATURE = "170cgHDGus2BDMuRqZhqM7zVThTy3txp6GQxwHVKVNw="


def test_the_vectors_follow_hubspots_algorithm() -> None:
    message = f"GET{URI}{TIMESTAMP}".encode()
    expected = base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest())
    assert expected.decode() == GET_SIGNATURE
    assert hubspot_signature_v3("GET", URI, "", TIMESTAMP, SECRET) == GET_SIGNATURE
    assert hubspot_signature_v3("POST", URI, POST_BODY, TIMESTAMP, SECRET) == POST_SIGNATURE


def test_a_valid_signature_is_accepted() -> None:
    assert verify_hubspot_signature_v3("GET", URI, "", TIMESTAMP, GET_SIGNATURE, SECRET, now=NOW)
    assert verify_hubspot_signature_v3(
        "POST", URI, POST_BODY.encode(), TIMESTAMP, POST_SIGNATURE, SECRET, now=NOW
    )


def test_percent_escapes_hubspot_decodes_are_decoded_before_signing() -> None:
    encoded = URI.replace("agent@example.com", "agent%40example.com").replace("https:", "https%3A")
    assert verify_hubspot_signature_v3(
        "GET", encoded, "", TIMESTAMP, GET_SIGNATURE, SECRET, now=NOW
    )


@pytest.mark.parametrize(
    ("method", "uri", "body", "timestamp", "signature", "secret"),
    [
        ("POST", URI, "", TIMESTAMP, GET_SIGNATURE, SECRET),  # other method
        ("GET", URI.replace("101", "102"), "", TIMESTAMP, GET_SIGNATURE, SECRET),  # other record
        ("POST", URI, '{"objectId":102}', TIMESTAMP, POST_SIGNATURE, SECRET),  # other body
        ("GET", URI, "", "1767000000001", GET_SIGNATURE, SECRET),  # other timestamp
        ("GET", URI, "", TIMESTAMP, GET_SIGNATURE, "another-secret"),  # other app
        ("GET", URI, "", TIMESTAMP, "not base64 at all!", SECRET),
        ("GET", URI, "", TIMESTAMP, "", SECRET),
        ("GET", URI, "", TIMESTAMP, GET_SIGNATURE, ""),
        ("GET", URI, "", "1767000000.5", GET_SIGNATURE, SECRET),
        ("POST", URI, b"\xff\xfe", TIMESTAMP, POST_SIGNATURE, SECRET),
    ],
)
def test_anything_else_is_refused(
    method: str, uri: str, body: str | bytes, timestamp: str, signature: str, secret: str
) -> None:
    assert not verify_hubspot_signature_v3(method, uri, body, timestamp, signature, secret, now=NOW)


def test_a_signature_older_than_five_minutes_is_refused() -> None:
    signed_at = 1_767_000_000
    args = ("GET", URI, "", TIMESTAMP, GET_SIGNATURE, SECRET)
    assert verify_hubspot_signature_v3(*args, now=signed_at + 300)
    assert not verify_hubspot_signature_v3(*args, now=signed_at + 301)
    assert not verify_hubspot_signature_v3(*args, now=signed_at - 301)  # from the future
    assert verify_hubspot_signature_v3(*args, now=signed_at + 500, tolerance=600)
