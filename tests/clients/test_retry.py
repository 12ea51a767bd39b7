"""The retry schedule: what is retried, how the pauses grow, and when it gives up (fake clock)."""

from __future__ import annotations

import pytest
from lead_archive_client import NO_RETRY, RetryPolicy, ServerError, Unavailable
from lead_archive_client.retry import Attempts, call_with_retry, call_with_retry_async


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pauses_grow_to_the_cap_and_stop_at_the_deadline() -> None:
    clock = FakeClock()
    policy = RetryPolicy(deadline=10, initial_backoff=1, max_backoff=3, multiplier=2, jitter=0)
    attempts = Attempts(policy, timeout=60, clock=clock)
    pauses = []
    assert attempts.next_timeout() == 60  # the first attempt has the whole timeout
    with pytest.raises(Unavailable) as raised:
        while True:
            pause = attempts.pause_or_raise(Unavailable("down"))
            pauses.append(pause)
            clock.now += pause
            assert attempts.next_timeout() == pytest.approx(10 - sum(pauses))  # cut to deadline
    assert pauses == [1, 2, 3, 3]  # a fifth pause (3 s) would end after the deadline
    assert raised.value.message == "down (gave up after 5 attempts in 9.0 s)"


def test_jitter_stays_within_its_share() -> None:
    policy = RetryPolicy(deadline=1000, initial_backoff=1, multiplier=1, jitter=0.2)
    attempts = Attempts(policy, timeout=1, clock=FakeClock())
    attempts.next_timeout()
    pauses = [attempts.pause_or_raise(Unavailable("x")) for _ in range(200)]
    assert all(0.8 <= p <= 1.2 for p in pauses)
    assert len(set(pauses)) > 1


def test_no_retry_raises_the_first_error_as_it_is() -> None:
    calls = []
    error = Unavailable("down")

    def attempt(limit_s: float) -> int:
        calls.append(limit_s)
        raise error

    with pytest.raises(Unavailable) as raised:
        call_with_retry(NO_RETRY, 5, attempt)
    assert raised.value is error
    assert calls == [5]


def test_only_unavailable_is_retried() -> None:
    calls = []

    def attempt(limit_s: float) -> int:
        calls.append(limit_s)
        raise ServerError("written maybe")

    with pytest.raises(ServerError):
        call_with_retry(RetryPolicy(deadline=30), 5, attempt)
    assert len(calls) == 1


async def test_async_retry_returns_once_the_service_answers() -> None:
    outcomes: list[Exception | int] = [Unavailable("a"), Unavailable("b"), 42]

    async def attempt(limit_s: float) -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    policy = RetryPolicy(deadline=5, initial_backoff=0.01)
    assert await call_with_retry_async(policy, 1, attempt) == 42


@pytest.mark.parametrize(
    "options",
    [{"deadline": -1}, {"initial_backoff": 0}, {"multiplier": 0.5}, {"jitter": 1.0}],
)
def test_nonsense_policies_are_refused(options: dict) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**options)
