"""Outbound URL policy (connectors.outbound): admin-configured connector URLs cannot reach
loopback, private or metadata addresses, on save and at connect time."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.crm.dynamics import DynamicsCrm
from connectors.crm.hubspot import HubSpotCrm
from connectors.crm.salesforce import SalesforceCrm
from connectors.crm.webhook import WebhookCrm
from connectors.outbound import (
    STRICT,
    OutboundPolicy,
    OutboundUrlRefused,
    guarded_session,
    parse_allow_hosts,
    policy_from_config,
)
from crm_pay import wiring
from crm_pay.domain.errors import ConfigurationError, ValidationError
from crm_pay.persistence.models import CrmConnectorRow
from crm_pay.services import crm_settings
from crm_pay.services.context import Context

SECRET = {"signing_secret": "whsec_0123456789abcdef"}
DEMO = OutboundPolicy(allow_loopback=True)
PUBLIC = "93.184.215.14"  # a public (global) address; nothing connects to it in these tests
_real_getaddrinfo = socket.getaddrinfo


def _answer(address: str, port: Any) -> tuple[Any, ...]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sockaddr = (address, int(port or 0), 0, 0) if ":" in address else (address, int(port or 0))
    return (family, socket.SOCK_STREAM, 6, "", sockaddr)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """Fake DNS: name -> successive answers (the last one repeats); other names and IP
    literals go to the real resolver (which answers literals without the network)."""
    zone: dict[str, list[list[str]]] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        answers = zone.get(str(host))
        if answers is None:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        current = answers.pop(0) if len(answers) > 1 else answers[0]
        return [_answer(a, port) for a in current]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return zone


class _Receiver(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        type(self).hits.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(500)
        self.end_headers()
        self.wfile.write(b"internal secret: aws_secret_access_key=abc")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[int, list[str]]]:
    """An internal HTTP service on 127.0.0.1 that must never be reached."""
    hits: list[str] = []
    handler = type("Receiver", (_Receiver,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port, hits
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------------------- the URL itself
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://127.0.0.1:8080/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://localhost/", "loopback"),
        ("https://10.1.2.3/", "private"),
        ("https://172.16.0.1/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://[fc00::1]/", "private"),
        ("https://169.254.10.1/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://[fd00:ec2::254]/", "cloud metadata"),
        ("https://100.100.100.200/", "cloud metadata"),
        ("https://168.63.129.16/", "cloud metadata"),
        ("https://224.0.0.1/", "multicast"),
        ("https://[ff02::1]/", "multicast"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://[::]/", "unspecified"),
        ("https://240.0.0.1/", "reserved"),
        ("https://100.64.0.1/", "not a public internet address"),
        ("https://[::ffff:10.0.0.1]/", "private"),
        ("https://[64:ff9b::a9fe:a9fe]/", "cloud metadata"),  # NAT64 of 169.254.169.254
    ],
)
def test_internal_addresses_are_refused(url: str, words: str) -> None:
    with pytest.raises(OutboundUrlRefused, match=words):
        STRICT.check_url(url, setting="url")


@pytest.mark.parametrize(
    "url", ["http://2130706433/", "http://0x7f.1/", "https://0177.0.0.1/", "https://127.1/"]
)
def test_unusual_ipv4_forms_are_refused_even_in_demo_mode(url: str) -> None:
    for policy in (STRICT, DEMO):
        with pytest.raises(OutboundUrlRefused, match="unusual form.*127.0.0.1.*four decimal"):
            policy.check_url(url, setting="url")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://crm.example.com/hook", "https://"),
        ("ftp://crm.example.com/", "https://"),
        ("https:///no-host", "host name"),
        ("https://user:pw@crm.example.com/", "credentials"),
        ("https://crm.example.com:99999/", "invalid port"),
        ("", "required"),
    ],
)
def test_malformed_urls_are_refused(url: str, words: str) -> None:
    with pytest.raises(OutboundUrlRefused, match=words):
        STRICT.check_url(url, setting="url")


def test_http_only_to_loopback_and_only_in_demo_mode() -> None:
    assert DEMO.check_url("http://127.0.0.1:9000/h", setting="url")
    assert DEMO.check_url("http://localhost:9000/h", setting="url")
    with pytest.raises(OutboundUrlRefused, match="https"):
        DEMO.check_url("http://crm.example.com/", setting="url")
    with pytest.raises(OutboundUrlRefused, match="https"):
        STRICT.check_url("http://127.0.0.1:9000/h", setting="url")
    # Demo mode allows loopback, not the private network or the metadata service.
    with pytest.raises(OutboundUrlRefused, match="private"):
        DEMO.check_url("https://10.0.0.1/", setting="url")
    with pytest.raises(OutboundUrlRefused, match="metadata"):
        DEMO.check_url("https://169.254.169.254/", setting="url")


# --------------------------------------------------------------------------- resolved names
def test_a_name_is_refused_when_any_address_is_internal(dns: dict[str, list[list[str]]]) -> None:
    dns["crm.example.com"] = [[PUBLIC, "10.0.0.7"]]
    with pytest.raises(OutboundUrlRefused, match="crm.example.com.*10.0.0.7 is a private"):
        STRICT.check_url("https://crm.example.com/h", setting="url", resolve=True)
    dns["v6.example.com"] = [["::1"]]
    with pytest.raises(OutboundUrlRefused, match="loopback"):
        STRICT.check_url("https://v6.example.com/h", setting="url", resolve=True)


def test_a_named_private_host_is_allowed_but_never_metadata(
    dns: dict[str, list[list[str]]],
) -> None:
    dns["crm.corp.internal"] = [["10.20.0.5"]]
    dns["meta.corp.internal"] = [["169.254.169.254"]]
    with pytest.raises(OutboundUrlRefused, match="CRM_PAY_OUTBOUND_ALLOW_HOSTS"):
        STRICT.check_url("https://crm.corp.internal/", setting="url", resolve=True)
    policy = policy_from_config(
        {"CRM_PAY_OUTBOUND_ALLOW_HOSTS": "crm.corp.internal, meta.corp.internal"}
    )
    assert policy.check_url("https://crm.corp.internal/", setting="url", resolve=True)
    with pytest.raises(OutboundUrlRefused, match="metadata.*never allowed"):
        policy.check_url("https://meta.corp.internal/", setting="url", resolve=True)
    with pytest.raises(OutboundUrlRefused, match="https"):  # named hosts still need TLS
        policy.check_url("http://crm.corp.internal/", setting="url", resolve=True)


def test_allow_hosts_configuration_is_checked() -> None:
    assert parse_allow_hosts("a.example, B.example. c.example") == {
        "a.example",
        "b.example",
        "c.example",
    }
    assert parse_allow_hosts(["x.example"]) == {"x.example"}
    assert parse_allow_hosts(None) == frozenset()
    for bad in ("https://a.example", "a.example:443", "u@a.example"):
        with pytest.raises(ConfigurationError, match="not a host name"):
            parse_allow_hosts(bad)
    with pytest.raises(ConfigurationError, match="separated by commas"):
        parse_allow_hosts(42)
    assert policy_from_config({"CRM_PAY_DEMO": True}).allow_loopback
    assert policy_from_config({"TESTING": True}).allow_loopback
    assert not policy_from_config({}).allow_loopback


# --------------------------------------------------------------------------- connect time
def test_dns_rebinding_is_refused_at_connect_time(
    dns: dict[str, list[list[str]]], receiver: tuple[int, list[str]]
) -> None:
    port, hits = receiver
    # Public when the admin saves, 127.0.0.1 when the connection is made.
    dns["rebind.example.com"] = [[PUBLIC], ["127.0.0.1"]]
    url = f"https://rebind.example.com:{port}/hook"
    crm = WebhookCrm({"url": STRICT.check_url(url, setting="url", resolve=True)}, SECRET)
    with pytest.raises(OutboundUrlRefused, match="127.0.0.1 is a loopback address"):
        crm.test_connection()
    assert hits == []  # no byte reached the internal service


def test_connect_time_check_covers_every_crm_connector(dns: dict[str, list[list[str]]]) -> None:
    dns["api.hubapi.com"] = [["10.0.0.1"]]
    dns["contoso.crm.dynamics.com"] = [["169.254.169.254"]]
    dns["login.microsoftonline.com"] = [["169.254.169.254"]]
    dns["login.salesforce.com"] = [["192.168.0.10"]]
    hubspot = HubSpotCrm({"auth": "private_app"}, {"access_token": "pat-na1-x"})
    with pytest.raises(OutboundUrlRefused, match="10.0.0.1 is a private"):
        hubspot.find_customer("101")
    tenant, client = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"
    dynamics = DynamicsCrm(
        {"tenant_id": tenant, "client_id": client, "org_url": "https://contoso.crm.dynamics.com"},
        {"client_secret": "s"},
    )
    with pytest.raises(OutboundUrlRefused, match="cloud metadata"):
        dynamics.find_customer("00000000-0000-0000-0000-000000000003")
    salesforce = SalesforceCrm(
        {"client_id": "c", "auth_flow": "client_credentials"}, {"client_secret": "s"}
    )
    with pytest.raises(OutboundUrlRefused, match="192.168.0.10 is a private"):
        salesforce.find_customer("003000000000001")


def test_a_checked_loopback_host_is_reached_in_demo_mode(receiver: tuple[int, list[str]]) -> None:
    port, hits = receiver
    answer = guarded_session(DEMO).post(f"http://localhost:{port}/ok", timeout=5)
    assert answer.status_code == 500 and hits == ["/ok"]
    with pytest.raises(OutboundUrlRefused, match="https"):
        guarded_session(STRICT).post(f"http://127.0.0.1:{port}/ok", timeout=5)
    assert hits == ["/ok"]


def test_proxies_are_not_used(receiver: tuple[int, list[str]]) -> None:
    port, hits = receiver
    session = guarded_session(STRICT)
    with pytest.raises(OutboundUrlRefused, match="proxies"):
        session.post(
            "https://crm.example.com/", proxies={"https": f"http://127.0.0.1:{port}"}, timeout=5
        )
    assert hits == []


# --------------------------------------------------------------------------- connector URLs
@pytest.mark.parametrize(
    "build",
    [
        lambda: WebhookCrm({"url": "https://169.254.169.254/latest/"}, SECRET),
        lambda: WebhookCrm({"url": "http://127.0.0.1:6379/"}, SECRET),
        lambda: HubSpotCrm(
            {"auth": "private_app", "base_url": "https://10.0.0.1"}, {"access_token": "p"}
        ),
        lambda: DynamicsCrm(
            {
                "tenant_id": "00000000-0000-0000-0000-000000000001",
                "client_id": "00000000-0000-0000-0000-000000000002",
                "org_url": "https://169.254.169.254",
            },
            {"client_secret": "s"},
        ),
        lambda: SalesforceCrm(
            {"client_id": "c", "username": "u", "login_url": "https://127.0.0.1"}, {}
        ),
    ],
)
def test_every_connector_refuses_internal_urls(build: Callable[[], object]) -> None:
    with pytest.raises(OutboundUrlRefused):
        build()


# --------------------------------------------------------------------------- save and test
@pytest.fixture
def strict_kinds(ctx: Context, tmp_path: Path) -> None:
    """The CRM kinds as production wires them: no demo loopback, no allowed hosts."""
    ctx.crm_kinds = wiring.crm_kinds(str(tmp_path), {"CRM_PAY_DEMO": False})


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1:8080/",
        "http://127.0.0.1:6379/",
        "https://10.0.0.8/hook",
        "http://2130706433/",
    ],
)
def test_saving_an_internal_webhook_url_is_refused(
    ctx: Context, strict_kinds: None, url: str
) -> None:
    with pytest.raises(ValidationError, match="url"):
        crm_settings.save_connector(
            ctx, name="hook", kind="webhook", settings={"url": url}, secrets=SECRET, actor="a"
        )
    assert crm_settings.list_connectors(ctx) == []  # nothing half-saved


def test_saving_a_name_that_resolves_inward_is_refused(
    ctx: Context, strict_kinds: None, dns: dict[str, list[list[str]]]
) -> None:
    dns["internal.example.com"] = [["172.20.0.3"]]
    with pytest.raises(ValidationError, match="172.20.0.3 is a private.*ALLOW_HOSTS"):
        crm_settings.save_connector(
            ctx,
            name="hook",
            kind="webhook",
            settings={"url": "https://internal.example.com/h"},
            secrets=SECRET,
            actor="a",
        )
    with pytest.raises(ValidationError, match="base_url"):
        crm_settings.save_connector(
            ctx,
            name="hs",
            kind="hubspot",
            settings={"auth": "private_app", "base_url": "https://internal.example.com"},
            secrets={"access_token": "pat"},
            actor="a",
        )


def test_test_connection_of_a_rebound_host_shows_no_body(
    ctx: Context,
    strict_kinds: None,
    dns: dict[str, list[list[str]]],
    receiver: tuple[int, list[str]],
) -> None:
    port, hits = receiver
    dns["hooks.example.com"] = [[PUBLIC], ["127.0.0.1"]]
    url = f"https://hooks.example.com:{port}/h"
    crm_settings.save_connector(
        ctx, name="hook", kind="webhook", settings={"url": url}, secrets=SECRET, actor="a"
    )
    report = crm_settings.test_connector(ctx, "hook")
    text = " ".join(str(part) for check in report.checks for part in check)
    assert not report.ok and "127.0.0.1 is a loopback address" in text
    assert report.checks[0][0] == "outbound URL policy"
    assert "internal secret" not in text and "aws_secret" not in text and hits == []
    with ctx.db.transaction() as s:
        stored = s.query(CrmConnectorRow).one()
        assert "aws_secret" not in str(stored.last_test_report)


def test_test_connection_of_a_demo_receiver_shows_the_status_only(
    ctx: Context, tmp_path: Path, receiver: tuple[int, list[str]]
) -> None:
    port, hits = receiver
    ctx.crm_kinds = wiring.crm_kinds(str(tmp_path), {"CRM_PAY_DEMO": True})
    crm_settings.save_connector(
        ctx,
        name="hook",
        kind="webhook",
        settings={"url": f"http://127.0.0.1:{port}/h"},
        secrets=SECRET,
        actor="a",
    )
    report = crm_settings.test_connector(ctx, "hook")
    assert not report.ok and "HTTP 500" in report.checks[0][2] and hits == ["/h"]
    assert "aws_secret" not in report.checks[0][2]


def test_requests_exceptions_are_not_what_a_refusal_raises() -> None:
    # A refusal is a configuration problem for the admin, not a network blip to retry.
    assert not issubclass(OutboundUrlRefused, requests.RequestException)
    assert issubclass(OutboundUrlRefused, ConfigurationError)
