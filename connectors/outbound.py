"""Outbound URL policy: where admin-configured connectors may send requests.

An admin types a CRM or webhook URL; crm-pay then makes requests to it from inside the
network it runs in. Without a policy that is a server-side request forgery (SSRF) tool:
``https://169.254.169.254/`` reads cloud credentials, ``http://127.0.0.1:<port>`` scans
the host. The policy (docs/security-notes/outbound-urls.md):

- https only; plain http only to loopback, and only when loopback is allowed (demo and
  tests, which run mock servers on 127.0.0.1);
- no credentials in the URL; IPv4 only in the usual dotted form (``2130706433``,
  ``0x7f.1`` and ``0177.0.0.1`` are 127.0.0.1 to the C resolver, so they are refused
  rather than guessed at);
- the host name is resolved, and the URL is refused when *any* address is loopback,
  private, link-local, shared (CGNAT), multicast, reserved, unspecified or a cloud
  metadata address, unless the admin named the host in ``CRM_PAY_OUTBOUND_ALLOW_HOSTS``
  (metadata, multicast and unspecified addresses stay refused even then);
- the same check runs again at connect time (:func:`guard`): the socket connects to
  the very address that was checked, so a DNS answer that changes between the check and
  the connection (DNS rebinding) cannot reach an internal host.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from crm_pay.domain.errors import ConfigurationError

__all__ = [
    "ALLOW_HOSTS_KEY",
    "METADATA_ADDRESSES",
    "OutboundPolicy",
    "OutboundUrlRefused",
    "STRICT",
    "address_refusal",
    "guard",
    "guarded_session",
    "parse_allow_hosts",
    "policy_from_config",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_HOSTS_KEY: Final = "CRM_PAY_OUTBOUND_ALLOW_HOSTS"

# Instance metadata services, never reachable even for a named host. Sources: AWS EC2
# user guide "Access instance metadata" (169.254.169.254, fd00:ec2::254) and ECS task
# metadata v2 (169.254.170.2); Google Compute "About VM metadata" (169.254.169.254);
# Azure IMDS (169.254.169.254) and WireServer (168.63.129.16, a public-range address);
# Alibaba Cloud ECS metadata (100.100.100.200); Oracle Cloud IMDS (169.254.169.254,
# 192.0.0.192).
METADATA_ADDRESSES: Final[frozenset[IPAddress]] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "fd00:ec2::254",
        "168.63.129.16",
        "100.100.100.200",
        "192.0.0.192",
    )
)
# RFC 6052 NAT64 well-known prefix: 64:ff9b::7f00:1 reaches 127.0.0.1 through a NAT64.
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})
_HOW_TO_ALLOW: Final = (
    f"if this is a private host of your own that crm-pay must reach, name it in {ALLOW_HOSTS_KEY}"
)


class OutboundUrlRefused(ConfigurationError):
    """A connector URL or the address it resolves to is refused by the outbound policy."""

    code = "outbound_url_refused"


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4, Teredo)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def address_refusal(ip: IPAddress, *, named: bool = False, loopback: bool = False) -> str | None:
    """Why ``ip`` may not be connected to (plain words), or ``None`` when it may.

    ``named``: the admin allowed this host by name (private, loopback and link-local
    addresses are then accepted; metadata, multicast and unspecified never are).
    ``loopback``: loopback addresses are accepted (demo and tests).
    """
    inner = _embedded_ipv4(ip)
    if inner is not None:
        reason = address_refusal(inner, named=named, loopback=loopback)
        return f"{reason} (as {ip})" if reason else None
    if ip in METADATA_ADDRESSES:
        return f"{ip} is a cloud metadata address"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if ip.is_unspecified:
        return f"{ip} is the unspecified address"
    if ip.is_loopback:
        return None if (loopback or named) else f"{ip} is a loopback address"
    if named:
        return None
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_reserved:  # before is_private, which 240.0.0.0/4 also is
        return f"{ip} is a reserved address"
    if ip.is_private:
        return f"{ip} is a private address"
    if not ip.is_global:
        # 100.64.0.0/10 (carrier-grade NAT) and similar: not the public internet.
        return f"{ip} is not a public internet address"
    return None


def _ip_literal(host: str, setting: str) -> IPAddress | None:
    """The address ``host`` is written as, refusing forms only some parsers read as one."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # inet_aton reads the legacy forms (one number, hex, octal, fewer dots) that the
        # C resolver and so the socket would connect to; ipaddress refuses them above.
        packed = socket.inet_aton(host)
    except (OSError, ValueError):
        return None
    raise OutboundUrlRefused(
        f"{setting}: {host!r} is an IPv4 address in an unusual form "
        f"({ipaddress.IPv4Address(packed)}); write addresses as four decimal numbers"
    )


def parse_allow_hosts(value: object) -> frozenset[str]:
    """``CRM_PAY_OUTBOUND_ALLOW_HOSTS``: host names (or IP addresses) separated by commas
    or spaces, or a list of them; no scheme, no port."""
    if value is None or value == "":
        return frozenset()
    if isinstance(value, str):
        items: Iterable[object] = value.replace(",", " ").split()
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        raise ConfigurationError(f"{ALLOW_HOSTS_KEY} must be host names separated by commas")
    hosts = set()
    for item in items:
        host = str(item).strip().lower().rstrip(".")
        if not host or "/" in host or "@" in host or (":" in host and _ip_or_none(host) is None):
            raise ConfigurationError(
                f"{ALLOW_HOSTS_KEY}: {item!r} is not a host name; list names such as "
                "crm.internal.example, without scheme or port"
            )
        hosts.add(host)
    return frozenset(hosts)


def _ip_or_none(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class OutboundPolicy:
    """Where connectors may connect. Built once by the wiring from the configuration.

    ``allow_hosts``: host names an admin allowed although they resolve to private
    addresses. ``allow_loopback``: loopback hosts (also over plain http) are accepted;
    only demo mode and tests turn this on.
    """

    allow_hosts: frozenset[str] = frozenset()
    allow_loopback: bool = False

    def check_url(self, url: object, *, setting: str, resolve: bool = False) -> str:
        """``url`` stripped, or :class:`OutboundUrlRefused` saying what is wrong.

        Without ``resolve`` only what the URL itself says is checked (cheap, no I/O:
        constructors use this). With ``resolve`` (saving a connector) the host name is
        looked up too; a name that does not resolve yet is accepted, because every
        connection is checked again when it is made.
        """
        if not isinstance(url, str) or not url.strip():
            raise OutboundUrlRefused(f"{setting} is required")
        text = url.strip()
        parts = urlsplit(text)
        host = (parts.hostname or "").rstrip(".")
        if parts.scheme not in ("http", "https") or not host:
            raise OutboundUrlRefused(f"{setting} must be an https:// URL with a host name")
        if parts.username is not None or parts.password is not None:
            raise OutboundUrlRefused(
                f"{setting} must not carry credentials (a user name or password)"
            )
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise OutboundUrlRefused(f"{setting} has an invalid port") from None
        literal = _ip_literal(host, setting)
        loopback = host in _LOOPBACK_NAMES or host.endswith(".localhost")
        if literal is not None:
            loopback = literal.is_loopback
        if parts.scheme == "http" and not (loopback and self.allow_loopback):
            raise OutboundUrlRefused(
                f"{setting} must be an https:// URL (plain http only to localhost in demo mode)"
            )
        if loopback and not self.allow_loopback and host not in self.allow_hosts:
            raise OutboundUrlRefused(
                f"{setting}: {host} is this machine (loopback), which connectors may not "
                f"reach; {_HOW_TO_ALLOW}"
            )
        if literal is not None:
            self._check_address(host, literal, setting)
        elif resolve and not loopback:
            with contextlib.suppress(socket.gaierror):
                self.addresses(host, port, setting=setting)
        return text

    def addresses(self, host: str, port: int, *, setting: str = "the URL") -> list[str]:
        """Resolve ``host`` and return its addresses, every one of them checked; refuses
        when any is not allowed (a name with one internal address is an internal name)."""
        name = host.strip("[]").rstrip(".").lower()
        found: list[str] = []
        for *_, sockaddr in socket.getaddrinfo(name, port, type=socket.SOCK_STREAM):
            text = str(sockaddr[0]).split("%", 1)[0]
            self._check_address(name, ipaddress.ip_address(text), setting)
            if text not in found:
                found.append(text)
        return found

    def _check_address(self, host: str, ip: IPAddress, setting: str) -> None:
        reason = address_refusal(ip, named=host in self.allow_hosts, loopback=self.allow_loopback)
        if reason:
            allowable = address_refusal(ip, named=True) is None
            raise OutboundUrlRefused(
                f"{setting}: {host} refused by the outbound URL policy: {reason}; "
                + (_HOW_TO_ALLOW if allowable else "such addresses are never allowed")
            )


STRICT: Final = OutboundPolicy()
"""The policy of a connector built without one: public https hosts only."""


def policy_from_config(config: Mapping[str, Any]) -> OutboundPolicy:
    """The policy the configuration asks for: hosts named in ``CRM_PAY_OUTBOUND_ALLOW_HOSTS``,
    loopback only in demo mode (``CRM_PAY_DEMO``) or under Flask's ``TESTING`` (the demo
    and the tests talk to mock servers on 127.0.0.1)."""
    return OutboundPolicy(
        allow_hosts=parse_allow_hosts(config.get(ALLOW_HOSTS_KEY)),
        allow_loopback=bool(config.get("CRM_PAY_DEMO")) or bool(config.get("TESTING")),
    )


def _connect(conn: HTTPConnection, policy: OutboundPolicy, *, tls: bool) -> socket.socket:
    """Resolve, check every address, then connect to a checked address (never to the
    name again, so a second DNS answer cannot sneak in)."""
    host = conn.host
    if not tls:
        # Plain http only to loopback in demo mode: check it as a URL would be.
        shown = f"[{host}]" if ":" in host else host
        policy.check_url(f"http://{shown}:{conn.port}/", setting="the connection")
    try:
        candidates = policy.addresses(host, int(conn.port or (443 if tls else 80)))
    except socket.gaierror as exc:
        raise NameResolutionError(host, conn, exc) from exc
    error: OSError | None = None
    for address in candidates:
        try:
            return create_connection(
                (address, int(conn.port or 0)),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"Connection to {host} timed out") from exc
        except OSError as exc:
            error = exc
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}")


def _pool_classes(policy: OutboundPolicy) -> dict[str, type[HTTPConnectionPool]]:
    # urllib3's connection classes have one hook that opens the socket, ``_new_conn``;
    # overriding it is the documented way advocate and similar SSRF guards work, and it
    # keeps TLS (SNI, certificate check) on the host name while the socket goes to the
    # checked address.
    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self, policy, tls=False)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self, policy, tls=True)

    class GuardedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self._policy)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        # Through a proxy the socket goes to the proxy, and the check would see only it.
        raise OutboundUrlRefused(
            "connectors do not use HTTP proxies: the outbound URL policy checks the "
            "address actually connected to"
        )


def guard(session: requests.Session, policy: OutboundPolicy) -> requests.Session:
    """Make every connection of ``session`` pass ``policy`` (returns ``session``)."""
    session.trust_env = False  # no proxies from the environment (see proxy_manager_for)
    adapter = _GuardedAdapter(policy)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def guarded_session(policy: OutboundPolicy, session: requests.Session | None = None) -> Any:
    """``session`` (a new one if ``None``) with :func:`guard` applied."""
    return guard(session if session is not None else requests.Session(), policy)
