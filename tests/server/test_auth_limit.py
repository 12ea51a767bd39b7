"""The failed-authentication limit: the class with a fake clock, and the peer addresses."""

from __future__ import annotations

import pytest

from server.auth_limit import FailedAuthLimiter, client_of_peer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: FakeClock, **kwargs) -> FailedAuthLimiter:
    return FailedAuthLimiter(max_failures=3, window_s=60, cooldown_s=30, clock=clock, **kwargs)


def test_blocks_after_max_failures_within_the_window_then_cools_down() -> None:
    clock = FakeClock()
    limit = limiter(clock)
    for _ in range(2):
        limit.failed("10.0.0.1")
        assert not limit.blocked("10.0.0.1")
    limit.failed("10.0.0.1")
    assert limit.blocked("10.0.0.1")
    assert not limit.blocked("10.0.0.2")  # per client
    clock.now += 29.9
    assert limit.blocked("10.0.0.1")
    clock.now += 0.1
    assert not limit.blocked("10.0.0.1")  # cool-down over, and the count starts again
    limit.failed("10.0.0.1")
    assert not limit.blocked("10.0.0.1")


def test_failures_older_than_the_window_do_not_count() -> None:
    clock = FakeClock()
    limit = limiter(clock)
    for _ in range(10):  # one failure every 31 s: never three within 60 s
        limit.failed("10.0.0.1")
        assert not limit.blocked("10.0.0.1")
        clock.now += 31
    limit.failed("10.0.0.1")
    limit.failed("10.0.0.1")  # now three within 31 s
    assert limit.blocked("10.0.0.1")


def test_memory_is_bounded_stalest_forgotten_first() -> None:
    clock = FakeClock()
    limit = limiter(clock, max_clients=100)
    for n in range(1000):
        limit.failed(f"10.0.{n // 256}.{n % 256}")
    assert len(limit._failures) == 100
    assert "10.0.3.231" in limit._failures and "10.0.0.0" not in limit._failures
    for _ in range(3):
        limit.failed("10.9.9.9")
    assert limit.blocked("10.9.9.9")


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("ipv4:192.0.2.7:51234", None, "192.0.2.7"),
        ("ipv6:[2001:db8::1]:51234", None, "2001:db8::1"),
        ("ipv4:127.0.0.1:40000", "203.0.113.9", "203.0.113.9"),  # the REST shim's HTTP client
        ("ipv6:[::1]:40000", "203.0.113.9", "203.0.113.9"),
        ("ipv4:192.0.2.7:51234", "203.0.113.9", "192.0.2.7"),  # only loopback may forward
        ("unix:/run/x.sock", None, "unix:/run/x.sock"),
    ],
)
def test_client_of_peer(peer: str, forwarded: str | None, client: str) -> None:
    assert client_of_peer(peer, forwarded) == client
