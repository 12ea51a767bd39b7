"""Retry transient failures (Unavailable) with exponential backoff, within an overall deadline.

Only ``Unavailable`` is retried: the service could not be reached, the connection dropped, or
the server reported its database unavailable. Resending a batch then is safe even if the
first attempt did part or all of it, because every phase converges: insert copies only leads
not yet archived, update rewrites archived copies from the live rows, delete removes only
leads whose archived copy is identical. A retry can therefore never copy a lead twice or
delete one without its copy; at worst it reports smaller counts (the first attempt did the
work) or raises UnknownLeads for leads the first attempt already moved.

Nothing else is retried: a 4xx needs a different request, and a 500 or a timeout after the
server may have written is for the caller to judge.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from lead_archive_client.errors import Unavailable

T = TypeVar("T")

Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry a call that hit a transient failure.

    ``deadline`` counts from the first attempt: no retry starts after it, and a retry's own
    timeout is cut short so that it ends by then too. Pauses start at ``initial_backoff``
    and grow by ``multiplier`` up to ``max_backoff``, each varied by up to ``jitter`` of
    itself so that many clients do not retry in step. ``RetryPolicy(deadline=0)`` never
    retries.
    """

    deadline: float = 60.0
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.2
    # Told of every retry before its pause: the failure and the seconds until the next try
    # (for a progress display; it must not raise).
    on_retry: Callable[[Unavailable, float], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.deadline < 0 or self.initial_backoff <= 0 or self.max_backoff <= 0:
            raise ValueError("deadline must be >= 0 and backoffs > 0")
        if self.multiplier < 1 or not 0 <= self.jitter < 1:
            raise ValueError("multiplier must be >= 1 and jitter in [0, 1)")


NO_RETRY = RetryPolicy(deadline=0)


class Attempts:
    """The attempts of one call: each one's timeout, and the pause before the next."""

    def __init__(self, policy: RetryPolicy, timeout: float, clock: Clock = time.monotonic) -> None:
        self._policy = policy
        self._timeout = timeout
        self._clock = clock
        self._started = clock()
        self._backoff = policy.initial_backoff
        self.count = 0

    def next_timeout(self) -> float:
        """Count an attempt and return its timeout (a retry's ends by the deadline)."""
        self.count += 1
        if self.count == 1:
            return self._timeout
        return max(min(self._timeout, self._remaining()), 0.001)

    def pause_or_raise(self, error: Unavailable) -> float:
        """The pause before the next attempt; raise ``error`` if none may start in time."""
        remaining = self._remaining()
        if remaining <= 0:
            raise self._gave_up(error)
        spread = self._backoff * self._policy.jitter
        pause = self._backoff + random.uniform(-spread, spread)
        self._backoff = min(self._backoff * self._policy.multiplier, self._policy.max_backoff)
        if pause >= remaining:
            raise self._gave_up(error)
        if self._policy.on_retry is not None:
            self._policy.on_retry(error, pause)
        return pause

    def _remaining(self) -> float:
        return self._policy.deadline - (self._clock() - self._started)

    def _gave_up(self, error: Unavailable) -> Unavailable:
        if self.count == 1:
            return error
        elapsed = self._clock() - self._started
        return Unavailable(
            f"{error.message} (gave up after {self.count} attempts in {elapsed:.1f} s)",
            lead_errors=error.lead_errors,
            lead_ids=error.lead_ids,
            grpc_code=error.grpc_code,
        )


def call_with_retry(policy: RetryPolicy, limit_s: float, attempt: Callable[[float], T]) -> T:
    """Call ``attempt(seconds)`` until it does not raise Unavailable or the deadline passes.

    ``limit_s`` is each attempt's timeout, passed to ``attempt``; a retry's is cut to the
    deadline.
    """
    attempts = Attempts(policy, limit_s)
    while True:
        try:
            return attempt(attempts.next_timeout())
        except Unavailable as error:
            time.sleep(attempts.pause_or_raise(error))


async def call_with_retry_async(
    policy: RetryPolicy, limit_s: float, attempt: Callable[[float], Awaitable[T]]
) -> T:
    """The asyncio twin of ``call_with_retry``."""
    attempts = Attempts(policy, limit_s)
    while True:
        try:
            return await attempt(attempts.next_timeout())
        except Unavailable as error:
            await asyncio.sleep(attempts.pause_or_raise(error))
