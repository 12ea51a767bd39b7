"""Who is calling: the client's IP address and the request id, from a gRPC call.

Trust assumption: the REST shim forwards the HTTP client's address in ``x-forwarded-for``
metadata. That value is believed only when the gRPC peer itself is a trusted proxy
(LEAD_ARCHIVE_TRUSTED_PROXIES, default the loopback addresses, where ``lead-archive
serve`` runs its shim); from any other peer the header is ignored and the peer's own
address is used. Anyone who can open a loopback connection can therefore name any address:
on a Vicidial server such local users are trusted already.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# vicidial_admin_log.ip_address is VARCHAR(15): an IPv4 address, or a short IPv6 one.
ADMIN_LOG_IP_WIDTH = 15


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


def peer_address(peer: str | None) -> str:
    """The IP address in a gRPC peer string (``ipv4:1.2.3.4:5``, ``ipv6:[::1]:5``), or ''."""
    if not peer:
        return ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]").split("%")[0]
    return ""  # unix sockets and the like carry no address


def normalise(address: str) -> str:
    """The canonical text of an IP address (IPv4-mapped IPv6 becomes IPv4); '' if not one."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def is_trusted(address: str, trusted: Iterable[IpNetwork]) -> bool:
    """Whether an address lies in one of the trusted networks."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in trusted)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Iterable[IpNetwork]
) -> str:
    """The caller's address: the forwarded one from a trusted proxy, else the peer's own."""
    own = normalise(peer_address(peer))
    if forwarded_for and is_trusted(own, trusted):
        # The right-most entry is the one our proxy added; earlier ones are the client's word.
        forwarded = normalise(forwarded_for.split(",")[-1])
        if forwarded:
            return forwarded
    return own


@dataclass(frozen=True)
class AdminLogAddress:
    """An address as vicidial_admin_log can hold it, and the whole one when it cannot."""

    column: str
    full: str

    @property
    def truncated(self) -> bool:
        """True when ip_address holds only the start of the address."""
        return self.column != self.full


def admin_log_address(address: str) -> AdminLogAddress:
    """Fit an address into ip_address VARCHAR(15).

    IPv4 always fits. IPv6 is written in its shortest form (``::1``, ``2001:db8::7``) and,
    when still longer than 15 characters, cut to its first 15: the network part, which is
    what an admin filters on. The whole address then goes into event_notes.
    """
    return AdminLogAddress(address[:ADMIN_LOG_IP_WIDTH], address)
