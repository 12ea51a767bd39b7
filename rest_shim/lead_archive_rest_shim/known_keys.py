"""Keys the server accepted lately: whether the shim asks about a key before reading a body.

A request's key is checked before its body is read or parsed, so a caller without a valid
key costs no body and no JSON parsing: the shim asks the server (``CheckAccess``) first, and
answers its 401 (or 403) with the body unread. A key the server accepted within the last
``ttl_s`` seconds skips that round trip, so a busy caller pays nothing for it. This decides
only the order of the shim's work, never who may do what: the server checks the key again on
the batch itself, and a key it refuses there is forgotten at once.

Keys are remembered by their SHA-256 only, at most ``max_keys`` of them (the stalest go).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

Metadata = tuple[tuple[str, str], ...]

TTL_S = 30.0
MAX_KEYS = 1024


def _digest(metadata: Metadata) -> bytes:
    return hashlib.sha256(repr(metadata).encode()).digest()


class KnownKeys:
    """Keys (as the metadata that carries them) the server accepted within ``ttl_s``."""

    def __init__(
        self,
        ttl_s: float = TTL_S,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s, self._max_keys, self._clock = ttl_s, max_keys, clock
        self._until: dict[bytes, float] = {}

    def known(self, metadata: Metadata) -> bool:
        """Whether the server accepted this key lately (no key at all is never known)."""
        if not metadata:
            return False
        until = self._until.get(_digest(metadata))
        return until is not None and self._clock() < until

    def accepted(self, metadata: Metadata) -> None:
        """The server just accepted this key."""
        if not metadata:
            return
        digest = _digest(metadata)
        self._until.pop(digest, None)  # re-inserted last: the dict keeps the stalest first
        self._until[digest] = self._clock() + self._ttl_s
        while len(self._until) > self._max_keys:
            del self._until[next(iter(self._until))]

    def refused(self, metadata: Metadata) -> None:
        """The server refused this key: ask about it again next time."""
        if metadata:
            self._until.pop(_digest(metadata), None)
