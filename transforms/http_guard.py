"""The private-network guard: which URLs the fetcher may connect to.

A URL passes when its scheme is http or https and every address its host
resolves to is a public unicast address. Loopback, private, link-local
(169.254.0.0/16, where cloud metadata services live), multicast, unspecified
and reserved addresses are refused, IPv4-mapped IPv6 forms included. The
guard runs again at every redirect hop, and the client connects to the
address the guard vetted, so a DNS answer that changes between the check and
the connection (DNS rebinding) cannot slip through.

`allow_private_network` opens the guard entirely; `allow_hosts` opens it for
named hosts only ("host" for any port, "host:port" for one port).
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Callable, Iterable, Optional, Sequence
from urllib.parse import urlsplit

__all__ = [
    "Resolver",
    "GuardError",
    "system_resolver",
    "is_public_address",
    "host_is_allowed",
    "vet_host",
    "vet_url",
    "split_url",
]

#: resolver(host, port) -> list of IP address strings.
Resolver = Callable[[str, int], Sequence[str]]

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


class GuardError(Exception):
    """The guard refused a URL. `reason` is bad_scheme, bad_url, dns_error or blocked_address."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):
        return (GuardError, (self.reason, str(self)))


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses `host` resolves to, through the system resolver."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = sockaddr[0].split("%", 1)[0]  # drop an IPv6 zone id
        if address not in seen:
            seen.append(address)
    return seen


def is_public_address(address: str) -> bool:
    """True when `address` is a globally routable unicast IP address.

    IPv4-mapped and IPv4-compatible IPv6 forms are judged by their IPv4
    address, so ::ffff:127.0.0.1 is loopback.
    """
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip.teredo is not None:
            ip = ip.teredo[1]
    if (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast
            or ip.is_unspecified or ip.is_reserved):
        return False
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_V4:
        return False
    return ip.is_global


_SHARED_V4 = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


def split_url(url: str) -> tuple[str, str, int]:
    """The (scheme, host, port) of an http(s) URL; host lower-cased, IDNA-encoded.

    Raises:
        GuardError: bad_scheme for other schemes, bad_url when there is no host.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise GuardError("bad_url", f"unparsable URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise GuardError("bad_scheme", f"scheme {scheme or '(none)'!r} is not http or https")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise GuardError("bad_url", f"URL {url!r} has no host")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host.lower()
    except UnicodeError:
        raise GuardError("bad_url", f"host {host!r} is not a valid name") from None
    return scheme, host, port or DEFAULT_PORTS[scheme]


def host_is_allowed(host: str, port: int, allow_hosts: Iterable[str]) -> bool:
    """True when `host:port` is named in `allow_hosts` ("host" or "host:port")."""
    host = host.lower().strip("[]")
    for entry in allow_hosts:
        entry = entry.strip().lower()
        if entry.startswith("["):  # [v6]:port or [v6]
            name, _, rest = entry[1:].partition("]")
            entry_port = rest[1:] if rest.startswith(":") else ""
        elif entry.count(":") == 1:
            name, entry_port = entry.split(":")
        else:
            name, entry_port = entry, ""
        if name.rstrip(".") == host and (not entry_port or entry_port == str(port)):
            return True
    return False


def vet_host(host: str, port: int, *, allow_private_network: bool = False,
             allow_hosts: Iterable[str] = (), resolver: Optional[Resolver] = None) -> list[str]:
    """The addresses the fetcher may connect to for `host:port`.

    Every address the host resolves to must be public, unless the guard is
    opened for this host (or entirely).

    Raises:
        GuardError: dns_error when the name does not resolve, blocked_address
            when any resolved address is not public.
    """
    resolver = resolver or system_resolver
    try:
        addresses = list(resolver(host, port))
    except (OSError, UnicodeError) as exc:
        raise GuardError("dns_error", f"cannot resolve {host!r}: {exc}") from None
    if not addresses:
        raise GuardError("dns_error", f"{host!r} resolves to no address")
    if allow_private_network or host_is_allowed(host, port, allow_hosts):
        return addresses
    blocked = [a for a in addresses if not is_public_address(a)]
    if blocked:
        raise GuardError(
            "blocked_address",
            f"{host}:{port} resolves to non-public address {blocked[0]}")
    return addresses


def vet_url(url: str, *, allow_private_network: bool = False, allow_hosts: Iterable[str] = (),
            resolver: Optional[Resolver] = None) -> tuple[str, str, int, list[str]]:
    """Checks scheme and host of `url`; returns (scheme, host, port, addresses).

    Raises:
        GuardError: see `split_url` and `vet_host`.
    """
    scheme, host, port = split_url(url)
    addresses = vet_host(host, port, allow_private_network=allow_private_network,
                         allow_hosts=allow_hosts, resolver=resolver)
    return scheme, host, port, addresses
