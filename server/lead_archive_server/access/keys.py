"""API keys: 256-bit random tokens, stored only as SHA-256 hashes, each naming an API user."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from lead_archive_server.core import sql
from lead_archive_server.core.db import Database

AUTHORIZATION_PREFIX = "Key="
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_USER_SHAPE = re.compile(r"[^\s]{1,20}")


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


def check_user_name(api_user: str) -> str:
    """Vicidial user names are 1 to 20 characters without spaces."""
    if not _USER_SHAPE.fullmatch(api_user):
        raise ValueError("the API user must be 1 to 20 characters without spaces")
    return api_user


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
