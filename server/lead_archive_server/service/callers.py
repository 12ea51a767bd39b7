"""Who is calling: the client's IP address and the request id, from a gRPC call.

Trust assumption: the REST shim forwards the HTTP client's address in ``x-forwarded-for``
metadata and its own request id in ``x-request-id`` (the HTTP client's id goes in
``x-client-request-id``). Those values are believed only from a proxy that speaks for its
clients: the shim of the same ``lead-archive serve`` process (it proves itself with a
per-process token, see observe.Gate), or a peer in LEAD_ARCHIVE_TRUSTED_PROXIES (none by
default; name the host of a separate ``lead-archive rest``). From any other peer the
address is the peer's own and the id a fresh one; a sent id is logged as the client's.
A forwarded value that is not an IP address is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from lead_archive_client.networks import IpNetwork, ip_text, is_trusted

# vicidial_admin_log.ip_address is VARCHAR(15): an IPv4 address, or a short IPv6 one.
ADMIN_LOG_IP_WIDTH = 15


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


def speaks_for_clients(peer: str | None, trusted: tuple[IpNetwork, ...]) -> bool:
    """Whether the peer is one of the proxies the operator named."""
    return is_trusted(ip_text(peer_address(peer)), trusted)


def client_address(
    peer: str | None,
    forwarded_for: str | None,
    trusted: tuple[IpNetwork, ...],
    *,
    believed: bool = False,
) -> str:
    """The caller's address: the forwarded one from a trusted proxy (or, `believed`, from a
    proxy known otherwise), else the peer's own."""
    own = ip_text(peer_address(peer))
    if forwarded_for and (believed or is_trusted(own, trusted)):
        # The right-most entry is the one our proxy added; earlier ones are the client's word.
        forwarded = ip_text(forwarded_for.split(",")[-1])
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
