"""Addresses and trusted networks, read the same way by the server and the REST shim."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[IpNetwork, ...]:
    """Comma-separated addresses or CIDR networks; raises ValueError naming a bad one."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
    return tuple(networks)


# Every call asks about its peer (and a proxy's forwarded address): parsing an address with
# ipaddress costs more than the rest of a call's bookkeeping, and peers repeat.
@lru_cache(maxsize=1024)
def ip_text(address: str) -> str:
    """The canonical text of an IP address (IPv4-mapped IPv6 becomes IPv4); '' if not one."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


# One IPv6 host is usually given a whole /64 (RFC 6177): counted address by address, one host
# could open 2**64 clients' worth of connections and failed keys.
IPV6_CLIENT_PREFIX = 64


@lru_cache(maxsize=1024)
def client_group(address: str) -> str:
    """What per-client limits count by: an IPv4 address itself, an IPv6 address's /64
    (IPv4-mapped IPv6 as IPv4); any other text (a Unix socket's peer) as it is."""
    ip = ip_text(address)
    if ":" not in ip:
        return ip or address
    return str(ipaddress.ip_network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))


@lru_cache(maxsize=1024)
def is_trusted(address: str, trusted: tuple[IpNetwork, ...]) -> bool:
    """Whether an address (canonical text) lies in one of the trusted networks."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in trusted)
