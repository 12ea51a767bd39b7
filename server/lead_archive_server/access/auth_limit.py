"""A per-client limit on failed authentications, with an injectable clock.

A client is an IPv4 address or an IPv6 /64 (`client_group`). After `max_failures` failed
attempts from one client within `window_s` seconds, that client
is limited for `cooldown_s` seconds: a key that is not among the live keys is refused without
a database lookup, while a valid key still works (see AccessGuard). `max_failures` 0 turns
the limit off. Memory is bounded: at most `max_clients` clients are remembered, the stalest
forgotten first.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from lead_archive_client.networks import client_group

MAX_FAILURES = 10
WINDOW_S = 60.0
COOLDOWN_S = 60.0
MAX_CLIENTS = 10_000


class FailedAuthLimiter:
    """Counts failed authentications per client and blocks a client that has too many."""

    def __init__(
        self,
        *,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        cooldown_s: float = COOLDOWN_S,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures, self.window_s, self.cooldown_s = max_failures, window_s, cooldown_s
        self.max_clients = max_clients
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def blocked(self, client: str) -> bool:
        """Whether the client is cooling down: an unknown key gets 401 without a lookup."""
        client = client_group(client)
        until = self._blocked_until.get(client)
        if until is None:
            return False
        if self._clock() < until:
            return True
        del self._blocked_until[client]
        return False

    def failed(self, client: str) -> bool:
        """Count one failed attempt; True when it reached the limit and began a cool-down."""
        if self.max_failures <= 0:
            return False
        client = client_group(client)
        now = self._clock()
        recent = self._failures.pop(client, deque())
        recent.append(now)
        while recent[0] <= now - self.window_s:
            recent.popleft()
        locked = len(recent) >= self.max_failures
        if locked:
            self._blocked_until.pop(client, None)
            self._blocked_until[client] = now + self.cooldown_s
        else:
            self._failures[client] = recent  # re-inserted: dicts keep the stalest first
        self._forget_stalest()
        return locked

    def _forget_stalest(self) -> None:
        for remembered in (self._failures, self._blocked_until):
            while len(remembered) > self.max_clients:
                del remembered[next(iter(remembered))]
