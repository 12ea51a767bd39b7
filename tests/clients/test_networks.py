"""What per-client limits count by: an IPv4 address, or an IPv6 address's /64."""

from __future__ import annotations

import pytest
from lead_archive_client.networks import client_group


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("[2001:db8:1:3::9]", "2001:db8:1:3::/64"),
        ("::1", "::/64"),
        ("unix:/run/lead-archive.sock", "unix:/run/lead-archive.sock"),
        ("", ""),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_slash_64(address: str, group: str) -> None:
    assert client_group(address) == group


def test_two_ipv6_hosts_in_different_slash_64s_are_different_clients() -> None:
    assert client_group("2001:db8:1:2::1") != client_group("2001:db8:1:3::1")
