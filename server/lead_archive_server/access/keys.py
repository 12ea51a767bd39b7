"""API keys: 256-bit random tokens, stored only as SHA-256 hashes, each naming an API user."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from lead_archive_client.vocabulary import SCOPES, printable_ascii

from lead_archive_server.core import sql
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import ArchiveError, OperatorError
from lead_archive_server.core.tables import missing_key_columns

log = logging.getLogger("server.access")

AUTHORIZATION_PREFIX = "Key="
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")
# Vicidial user names: 1 to 20 characters without spaces. Printable ASCII only, as the user
# goes into every answer's gRPC metadata (x-api-user), which carries nothing else.
_USER_SHAPE = re.compile(r"[!-~]{1,20}")
USER_NAME_RULE = "1 to 20 printable ASCII characters without spaces"
# Start-up and `keys list` warn about live keys that expire within this.
EXPIRY_WARNING_S = 7 * 86_400
# Durations: a number and a unit (`90d`); at most ten years (a DATETIME holds far more).
_DURATION = re.compile(r"([0-9]{1,9})([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}
MAX_DURATION_S = 3_650 * 86_400
DURATION_RULE = "a number followed by s, m, h or d (e.g. 90d, 24h), at most 3650d"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without the key itself. Times other than created_at and revoked_at
    (the database server's clock) are UTC."""

    key_id: int
    api_user: str
    created_at: datetime
    revoked_at: datetime | None
    scopes: tuple[str, ...] = SCOPES
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    last_used_from: str | None = None
    expired: bool = False
    expiring_soon: bool = False  # live, and expires within EXPIRY_WARNING_S

    @property
    def live(self) -> bool:
        """Whether the key still works."""
        return self.revoked_at is None and not self.expired


@dataclass(frozen=True)
class LiveKey:
    """A key that works now: whose it is and what it may do."""

    key_id: int
    api_user: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class NewKey:
    """A key just made: its id, and the key itself (shown once, never stored)."""

    key_id: int
    key: str


@dataclass(frozen=True)
class Rotated:
    """A rotation: the old key, which ends at old_expires_at (UTC), and its successor."""

    old_key_id: int
    new: NewKey
    api_user: str
    scopes: tuple[str, ...]
    old_expires_at: datetime


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


class InvalidKeyTerms(OperatorError):
    """A scope, duration or date a key command cannot use; the message says which and why."""


def checked_scopes(names: Sequence[str]) -> tuple[str, ...]:
    """The scopes named (each once, in SCOPES order), or InvalidKeyTerms."""
    unknown = [name for name in names if name not in SCOPES]
    if unknown:
        raise InvalidKeyTerms(f"unknown scope {unknown[0]!a}: the scopes are {', '.join(SCOPES)}")
    if not names:
        raise InvalidKeyTerms(f"a key needs at least one scope ({', '.join(SCOPES)})")
    return tuple(scope for scope in SCOPES if scope in names)


def stored_scopes(text: str | set[str] | None) -> tuple[str, ...]:
    """The scopes of a stored SET value, in SCOPES order."""
    names = text if isinstance(text, set) else set((text or "").split(","))
    return tuple(scope for scope in SCOPES if scope in names)


def parse_duration(text: str, *, option: str, allow_zero: bool = False) -> int:
    """Seconds of a duration like `90d`, or InvalidKeyTerms naming the option."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise InvalidKeyTerms(f"{option} {text!a}: {DURATION_RULE}")
    seconds = int(match[1]) * _UNIT_S[match[2]]
    if seconds > MAX_DURATION_S or (seconds == 0 and not allow_zero):
        least = "0" if allow_zero else "1"
        raise InvalidKeyTerms(f"{option} {text!a}: from {least}{match[2]} to 3650d")
    return seconds


def parse_day(text: str, *, option: str) -> date:
    """A YYYY-MM-DD date, or InvalidKeyTerms naming the option."""
    try:
        if not _DATE.fullmatch(text.strip()):
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidKeyTerms(f"{option} {text!a}: a date as YYYY-MM-DD") from None


@dataclass(frozen=True)
class Expiry:
    """When a new key stops working: `in_s` seconds from now (the database server's clock),
    or `at` (naive UTC); neither: never."""

    in_s: int | None = None
    at: datetime | None = None

    def args(self) -> tuple[datetime | None, int | None]:
        """The arguments of sql.INSERT_KEY's expiry."""
        return self.at, self.in_s

    def when(self) -> datetime | None:
        """The moment it stops working (naive UTC, to the second), or None."""
        if self.in_s is not None:
            return utc_now() + timedelta(seconds=self.in_s)
        return self.at


NEVER = Expiry()


def end_of_day(day: date, zone: tzinfo, now: datetime, *, option: str) -> datetime:
    """The end of `day` in `zone` (the next midnight there) as naive UTC, or InvalidKeyTerms
    when it is past already or more than MAX_DURATION_S from `now` (aware)."""
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    seconds = (end - now).total_seconds()
    if seconds <= 0:
        raise InvalidKeyTerms(f"{option} {day.isoformat()}: that day has ended already")
    if seconds > MAX_DURATION_S:
        raise InvalidKeyTerms(f"{option} {day.isoformat()}: at most 3650 days from now")
    return end.astimezone(UTC).replace(tzinfo=None)


async def new_key(
    db: Database,
    api_user: str,
    *,
    scopes: Collection[str] = SCOPES,
    expires: Expiry = NEVER,
) -> NewKey:
    """Store a new key for api_user with these scopes (the command's default is `archive`
    alone), working until `expires`; return it and its id."""
    checked = checked_scopes(list(scopes))
    key = secrets.token_urlsafe(32)
    args = (check_user_name(api_user), hash_key(key), ",".join(checked), *expires.args())
    async with db.session() as session:
        await session.execute(sql.INSERT_KEY, args)
        rows = await session.fetch_all(sql.LAST_INSERT_ID)
    return NewKey(int(rows[0][0]), key)


async def create_key(
    db: Database,
    api_user: str,
    *,
    scopes: Collection[str] = SCOPES,
    expires: Expiry = NEVER,
) -> str:
    """Store a new key for api_user and return it; it is never shown again."""
    return (await new_key(db, api_user, scopes=scopes, expires=expires)).key


async def live_key(db: Database, key: str) -> LiveKey | None:
    """The key when it works now (not revoked, not expired), else None."""
    async with db.session() as session:
        rows = await session.fetch_all(sql.SELECT_LIVE_KEY, (hash_key(key),))
    if not rows:
        return None
    key_id, api_user, scopes = rows[0]
    return LiveKey(int(key_id), str(api_user), stored_scopes(scopes))


async def user_for_key(db: Database, key: str) -> str | None:
    """The API user of a live key, or None."""
    found = await live_key(db, key)
    return found.api_user if found else None


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
        rows = await session.fetch_all(sql.SELECT_KEYS, (EXPIRY_WARNING_S,))
    return [
        ApiKey(
            key_id=int(r[0]),
            api_user=str(r[1]),
            created_at=r[2],
            revoked_at=r[3],
            scopes=stored_scopes(r[4]),
            expires_at=r[5],
            last_used_at=r[6],
            last_used_from=r[7],
            expired=bool(r[8]),
            expiring_soon=bool(r[9]) and r[3] is None,
        )
        for r in rows
    ]


async def revoke_key(db: Database, key_id: int) -> bool:
    """Revoke one key; False when no live key has that id."""
    return await revoked_key_user(db, key_id) is not None


async def revoked_key_user(db: Database, key_id: int) -> str | None:
    """Revoke one key and return its user; None when no live key has that id."""
    async with (
        db.session() as session,
        session.transaction(sql.SELECT_LIVE_KEY_USER, (key_id,)) as transaction,
    ):
        await session.execute(sql.REVOKE_KEY, (key_id,))
    rows = transaction.found[0].rows
    return str(rows[0][0]) if rows else None


async def revoke_keys_of(db: Database, api_user: str) -> list[int]:
    """Revoke every live key of a user; returns their ids."""
    async with (
        db.session() as session,
        session.transaction(sql.SELECT_LIVE_USER_KEYS, (api_user,)) as transaction,
    ):
        await session.execute(sql.REVOKE_USER_KEYS, (api_user,))
    return [int(row[0]) for row in transaction.found[0].rows]


async def revoke_user_keys(db: Database, api_user: str) -> int:
    """Revoke every live key of a user; returns how many."""
    return len(await revoke_keys_of(db, api_user))


async def rotate_key(
    db: Database, key_id: int, *, grace_s: int, expires: Expiry = NEVER
) -> Rotated | None:
    """Make a new key for the same user and scopes, and end the old one after grace_s
    seconds (sooner if it expired sooner already); None when no live key has that id."""
    key = secrets.token_urlsafe(32)
    async with db.session() as session:
        async with session.transaction(sql.SELECT_KEY_TO_ROTATE, (key_id,)) as transaction:
            found = transaction.found[0].rows
            if not found:
                return None
            api_user, scopes = str(found[0][0]), stored_scopes(found[0][1])
            args = (api_user, hash_key(key), ",".join(scopes), *expires.args())
            await session.execute(sql.INSERT_KEY, args)
            new_id = int((await session.fetch_all(sql.LAST_INSERT_ID))[0][0])
            await session.execute(sql.END_KEY_AFTER_GRACE, (grace_s, grace_s, key_id))
        ends = await session.fetch_all(sql.SELECT_KEY_EXPIRY, (key_id,))
    return Rotated(key_id, NewKey(new_id, key), api_user, scopes, ends[0][0])


async def keys_expiring(db: Database) -> list[ApiKey]:
    """Live keys that expire within EXPIRY_WARNING_S, soonest first."""
    soon = [key for key in await list_keys(db) if key.live and key.expiring_soon]
    return sorted(soon, key=lambda key: key.expires_at or datetime.max)


def expiry_warning(key: ApiKey) -> str:
    """The line that warns about a key expiring soon."""
    when = key.expires_at.strftime("%Y-%m-%d %H:%M") if key.expires_at else "?"
    return (
        f"key {key.key_id} of API user {shown_user(key.api_user)} expires at {when} UTC: "
        f"rotate it ('lead-archive keys rotate {key.key_id}') before then"
    )


class KeyTableOutdated(OperatorError):
    """The key table is missing or from an older release: `db init` makes it current."""


async def require_current_key_table(db: Database) -> None:
    """Raise KeyTableOutdated unless the key table has every column this release uses."""
    async with db.session() as session:
        missing = await missing_key_columns(session)
    if missing is None:
        raise KeyTableOutdated(
            f"table {sql.KEYS} does not exist: run 'lead-archive db init' to create it"
        )
    if missing:
        raise KeyTableOutdated(
            f"table {sql.KEYS} is from an older release (no {', '.join(missing)}): "
            "run 'lead-archive db init' to upgrade it"
        )


def utc_now() -> datetime:
    """Now, as a naive UTC datetime to the second (as the key table keeps times)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


class KeyUses:
    """When and from where each key was last used: kept in memory, written by flush.

    The guard notes every admitted call here (no database write per request); the service
    flushes at most once per interval and at shutdown, one UPDATE per key used since the
    last flush, all in one round trip.
    """

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._pending: dict[int, tuple[datetime, str]] = {}

    def used(self, key_id: int, address: str | None) -> None:
        """Note a use of the key, now, from the address (if known)."""
        self._pending[key_id] = (self._clock(), (address or "")[:64])

    @property
    def pending(self) -> int:
        """How many keys have uses not yet written."""
        return len(self._pending)

    async def flush(self, db: Database) -> int:
        """Write the pending uses; return how many keys were written. On a database error
        the uses are kept for the next flush (a newer use of the same key wins)."""
        pending, self._pending = self._pending, {}
        if not pending:
            return 0
        statements = [
            (sql.RECORD_KEY_USE, (when, address or None, key_id, when))
            for key_id, (when, address) in pending.items()
        ]
        try:
            async with db.session() as session:
                await session.execute_all(statements)
        except ArchiveError:
            for key_id, use in pending.items():
                self._pending.setdefault(key_id, use)
            raise
        return len(pending)

    async def flush_every(self, db: Database, interval_s: float) -> None:
        """Flush every interval_s seconds until cancelled (errors are logged, not raised)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.flush(db)
            except ArchiveError as error:
                log.warning("keys' last use not written (kept for the next try): %s", error)
