"""The failed-authentication limit, with a fake clock."""

from __future__ import annotations

from lead_archive_server.access.auth_limit import FailedAuthLimiter


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


def test_an_ipv6_client_is_its_slash_64_so_new_addresses_do_not_reset_the_count() -> None:
    clock = FakeClock()
    limit = limiter(clock)
    for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"):
        assert not limit.blocked(host)
        limit.failed(host)
    assert limit.blocked("2001:db8:1:2::4")  # any address of that /64
    assert not limit.blocked("2001:db8:1:3::1")  # the next /64 is another client
    assert not limit.blocked("203.0.113.7")
