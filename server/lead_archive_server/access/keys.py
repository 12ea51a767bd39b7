"""API keys: 256-bit random tokens, stored only as SHA-256 hashes, each naming an API user."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lead_archive_client.vocabulary import printable_ascii

from lead_archive_server.core import sql
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import OperatorError

AUTHORIZATION_PREFIX = "Key="
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")
# Vicidial user names: 1 to 20 characters without spaces. Printable ASCII only, as the user
# goes into every answer's gRPC metadata (x-api-user), which carries nothing else.
_USER_SHAPE = re.compile(r"[!-~]{1,20}")
USER_NAME_RULE = "1 to 20 printable ASCII characters without spaces"


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without the key itself."""

    key_id: int
    api_user: str
    created_at: datetime
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    """The form a key is stored and looked up in."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_from_authorization(header: str | None) -> str | None:
    """Take the key out of `Key=<api key>`; None when the header is missing or malformed."""
    if not header or not header.startswith(AUTHORIZATION_PREFIX):
        return None
    key = header[len(AUTHORIZATION_PREFIX) :].strip()
    return key if _KEY_SHAPE.fullmatch(key) else None


def valid_user_name(api_user: str) -> bool:
    """Whether a name follows the rule (keys made before it was checked may not)."""
    return _USER_SHAPE.fullmatch(api_user) is not None


class InvalidUserName(OperatorError):
    """An API user name the service cannot carry (it goes into gRPC metadata)."""


def check_user_name(api_user: str) -> str:
    """The name, or InvalidUserName saying the rule."""
    if not valid_user_name(api_user):
        raise InvalidUserName(f"the API user must be {USER_NAME_RULE}, not {api_user!a}")
    return api_user


def shown_user(api_user: str) -> str:
    """A name as a terminal or a log line may show it: quoted and escaped unless it is
    printable ASCII, so no control character of a stored name reaches a terminal."""
    return api_user if printable_ascii(api_user) and api_user else ascii(api_user)


async def create_key(db: Database, api_user: str) -> str:
    """Store a new key for api_user and return it; it is never shown again."""
    key = secrets.token_urlsafe(32)
    async with db.session() as session:
        await session.execute(sql.INSERT_KEY, (check_user_name(api_user), hash_key(key)))
    return key


async def user_for_key(db: Database, key: str) -> str | None:
    """The API user of a live key, or None."""
    async with db.session() as session:
        rows = await session.fetch_all(sql.SELECT_KEY_USER, (hash_key(key),))
    return str(rows[0][0]) if rows else None


class LiveKeyHashes:
    """The hashes of all live keys, read again at most once per `refresh_s` seconds.

    Lets a valid key through while its client is limited for failed attempts, without a
    database lookup for each bad key: only a key found here is then looked up (so a
    revocation still bites on the next request), and a new key is found within refresh_s.
    """

    def __init__(self, refresh_s: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self._refresh_s, self._clock = refresh_s, clock
        self._hashes: frozenset[str] = frozenset()
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    async def contains(self, db: Database, key: str) -> bool:
        """Whether key was live when last read."""
        if self._stale():
            async with self._lock:
                if self._stale():  # another caller may have read them meanwhile
                    async with db.session() as session:
                        rows = await session.fetch_all(sql.SELECT_LIVE_KEY_HASHES)
                    self._hashes = frozenset(str(row[0]) for row in rows)
                    self._read_at = self._clock()
        return hash_key(key) in self._hashes

    def _stale(self) -> bool:
        return self._read_at is None or self._clock() - self._read_at >= self._refresh_s


async def list_keys(db: Database) -> list[ApiKey]:
    """Every key ever created, oldest first."""
    async with db.session() as session:
        rows = await session.fetch_all(sql.SELECT_KEYS)
    return [ApiKey(int(r[0]), str(r[1]), r[2], r[3]) for r in rows]


async def revoke_key(db: Database, key_id: int) -> bool:
    """Revoke one key; False when no live key has that id."""
    async with db.session() as session:
        return await session.execute(sql.REVOKE_KEY, (key_id,)) > 0


async def revoke_user_keys(db: Database, api_user: str) -> int:
    """Revoke every live key of a user; returns how many."""
    async with db.session() as session:
        return await session.execute(sql.REVOKE_USER_KEYS, (api_user,))
