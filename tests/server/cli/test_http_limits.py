"""Connections counted per client: an IPv4 address, or an IPv6 address's /64; trusted
proxies not counted."""

from __future__ import annotations

from lead_archive_client.networks import parse_networks
from lead_archive_server.cli.http_limits import HttpLimits, _PerClient


def per_client(limit: int, trusted: str = "") -> _PerClient:
    limits = HttpLimits(
        max_header_bytes=8192,
        max_headers=100,
        header_timeout_s=10,
        max_connections=512,
        max_connections_per_client=limit,
        trusted_proxies=parse_networks(trusted),
    )
    return _PerClient(limits)


def test_connections_from_one_ipv6_slash_64_share_one_limit() -> None:
    counted = per_client(2)
    assert counted.admit("2001:db8:1:2::1")
    assert counted.admit("2001:db8:1:2::2")
    assert not counted.admit("2001:db8:1:2::3")  # a third address of the same /64
    assert counted.admit("2001:db8:1:3::1")  # another /64
    counted.release("2001:db8:1:2::1")
    assert counted.admit("2001:db8:1:2::3")  # one closed: room for one more


def test_ipv4_addresses_are_counted_one_by_one() -> None:
    counted = per_client(1)
    assert counted.admit("203.0.113.7")
    assert not counted.admit("203.0.113.7")
    assert counted.admit("203.0.113.8")


def test_a_trusted_proxy_is_not_counted_and_its_closes_free_no_one_elses_room() -> None:
    counted = per_client(1, trusted="2001:db8:1:2::10/128")
    assert counted.admit("2001:db8:1:2::1")
    for _ in range(3):
        assert counted.admit("2001:db8:1:2::10")
        counted.release("2001:db8:1:2::10")
    assert not counted.admit("2001:db8:1:2::2")  # the proxy's closes left the /64's count
