"""The database boundary: the only module that imports aiomysql.

Driver exceptions become the service's own errors here, in `_translate`, and nowhere else.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import aiomysql
import pymysql

from lead_archive_server.core import sql as statements
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.errors import (
    ArchiveError,
    DatabaseUnavailable,
    ServerError,
    TableNeedsRepair,
    TransientConflict,
)

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
Statement = tuple[str, Sequence[object]]  # SQL with %s placeholders, and its arguments

# MariaDB error numbers the service reacts to.
ER_LOCK_WAIT_TIMEOUT = 1205
ER_LOCK_DEADLOCK = 1213
ER_NO_SUCH_TABLE = 1146
ER_BAD_FIELD_ERROR = 1054
_RETRYABLE = {ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK}
# A server that is gone: can't connect, gone away, lost connection (client side); shutting
# down, connection killed (server side, e.g. a restart or KILL <id> mid-statement).
_CONNECTION_LOST = {2003, 2006, 2013, 2055, 1053, 1927}
# A MyISAM table marked as crashed: as a handler error (126, 127, 144, 145) or as a server
# error (index corrupt, crashed on usage, crashed on repair).
_NEEDS_REPAIR = {126, 127, 144, 145, 1034, 1194, 1195}
_TABLE_NAME = re.compile(r"'(?:\./)?(?:[^'/]+/)?([^'/]+?)(?:\.MY[ID])?'")


class NoSuchTable(ServerError):
    """A statement named a table (or a column) that does not exist; the connection is
    still usable."""

    @classmethod
    def default_message(cls) -> str:
        """Said only when the table could not be named (see schema.require_tables)."""
        return "a table the service needs does not exist"


@contextmanager
def _no_such_table_as_error() -> Iterator[None]:
    """Let the caller tell a missing table or column (and say which) from any other driver
    error."""
    try:
        yield
    except pymysql.err.MySQLError as error:
        if _code(error) in (ER_NO_SUCH_TABLE, ER_BAD_FIELD_ERROR):
            raise NoSuchTable() from None
        raise


_INT = {int}


def _bound(sql: str, args: Sequence[object]) -> tuple[str, tuple[object, ...] | None]:
    """Arguments for cursor.execute; a batch's lead IDs are bound here, not by the driver.

    The driver escapes each value through a generic per-type lookup, a third of a batch's
    CPU time for three statements of 500 IDs. For plain ints it would write str(value) (its
    escape_int), which is what this does directly: digits and a minus sign, nothing to escape.
    """
    if args and set(map(type, args)) == _INT:  # not bool, not an int subclass
        return sql % tuple(map(str, args)), None
    return sql, tuple(args) or None


def _text_of(cursor: aiomysql.Cursor, sql: str, args: Sequence[object]) -> str:
    """One statement with its arguments written in (for several sent at once)."""
    text, rest = _bound(sql, args)
    return text if rest is None else str(cursor.mogrify(text, rest))


@dataclass(frozen=True)
class ResultSet:
    """What one statement of several sent at once returned."""

    rows: list[Row]


@dataclass(frozen=True)
class NamedLock:
    """A server-side named lock held from a transaction's BEGIN to its end (Session.transaction).

    `acquire` is a GET_LOCK whose %s is the seconds to wait (or `waits` of them in turn, each
    given the same seconds and all held within them: sql.acquire_locks, answering 1 only when
    all are held); `release` releases them.
    """

    acquire: str
    release: str
    wait_s: int
    waits: int = 1


@dataclass
class Transaction:
    """An open Session.transaction: what its first round trip returned, and what the block
    may leave to run with the COMMIT: a note (a row that records the batch) and a statement
    for right after the COMMIT (the hopper's sweep)."""

    found: list[ResultSet]
    note: Statement | None = None
    # Before COMMIT, so it commits with the batch (transactional tables), or after the
    # lock's release (MyISAM: nothing to commit with, and no lock held while it waits).
    note_in_transaction: bool = False
    note_error: str | None = None  # after the commit: why the note was not written
    after_commit: Statement | None = None  # runs after COMMIT, before the lock's release
    after_commit_error: str | None = None  # after the commit: why it did not run


class Session:
    """One pooled connection, used by one request at a time."""

    def __init__(self, connection: aiomysql.Connection) -> None:
        self._connection = connection

    async def fetch_all(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        """Run a query and return every row as a tuple."""
        async with self._connection.cursor() as cursor:
            with _no_such_table_as_error():
                await cursor.execute(*_bound(sql, args))
            return list(await cursor.fetchall())

    async def fetch_dicts(self, sql: str, args: Sequence[object] = ()) -> list[dict[str, Any]]:
        """Run a query and return every row as a column-name dict."""
        async with self._connection.cursor(aiomysql.DictCursor) as cursor:
            await cursor.execute(sql, tuple(args) or None)
            return list(await cursor.fetchall())

    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run a statement and return the rows it changed."""
        async with self._connection.cursor() as cursor:
            with _no_such_table_as_error():
                await cursor.execute(*_bound(sql, args))
            return int(cursor.rowcount)

    async def fetch_sets(self, sql: str, args: Sequence[object] = ()) -> list[ResultSet]:
        """Run ';'-separated statements in one round trip: one ResultSet per statement.

        The server stops at the first statement that fails, and so does this (raising).
        (aiomysql always lets a connection send several statements at once.)
        """
        async with self._connection.cursor() as cursor:
            with _no_such_table_as_error():
                await cursor.execute(*_bound(sql, args))
                sets = [ResultSet(list(await cursor.fetchall()))]
                while await cursor.nextset():
                    sets.append(ResultSet(list(await cursor.fetchall())))
        return sets

    async def fetch_dict_sets(
        self, sql: str, args: Sequence[object] = ()
    ) -> list[list[dict[str, Any]]]:
        """fetch_sets with every row as a column-name dict."""
        async with self._connection.cursor(aiomysql.DictCursor) as cursor:
            with _no_such_table_as_error():
                await cursor.execute(sql, tuple(args) or None)
                sets = [list(await cursor.fetchall())]
                while await cursor.nextset():
                    sets.append(list(await cursor.fetchall()))
        return sets

    async def execute_all(self, statements: Sequence[Statement]) -> list[tuple[int, float]]:
        """Run statements in one round trip, in order: for each, the rows it changed and the
        seconds from the previous result (or the send) to its own, which is its run.

        The server stops at the first statement that fails, and so does this (raising): the
        statements before it have run, exactly as if each had been sent alone.
        """
        async with self._connection.cursor() as cursor:
            script = "; ".join(_text_of(cursor, sql, args) for sql, args in statements)
            results = []
            started = perf_counter()
            with _no_such_table_as_error():
                await cursor.execute(script)
                while True:
                    now = perf_counter()
                    results.append((int(cursor.rowcount), now - started))
                    started = now
                    if not await cursor.nextset():
                        break
        return results

    @asynccontextmanager
    async def transaction(
        self, then: str = "", args: Sequence[object] = (), *, lock: NamedLock | None = None
    ) -> AsyncIterator[Transaction]:
        """Begin, and run `then` (with `args`) in the same round trip; yield what `then`
        returned (Transaction.found). The block's end commits in one more round trip (with the
        Transaction's note and after-commit statement, if it left them); our own errors roll
        back, a driver error leaves the connection to Database.session, which closes it.

        With a `lock`, the round trip takes it first (GET_LOCK) and the commit's round trip
        releases it. The server runs the statements in order, so `then` runs once the lock is
        held (when GET_LOCK gives up instead, its result is thrown away). If the connection
        dies, the server rolls back and drops the lock.
        """
        release = lock.release if lock else None
        transaction = Transaction(await self._begin(then, args, lock))
        try:
            yield transaction
        except ArchiveError:
            await self._roll_back(release)
            raise
        await self._commit(transaction, release)

    async def _begin(
        self, then: str, args: Sequence[object], lock: NamedLock | None
    ) -> list[ResultSet]:
        """Take the lock (if any), START TRANSACTION and run `then`, in one round trip;
        return what `then` returned."""
        script = "START TRANSACTION" + (f"; {then}" if then else "")
        if lock is not None:
            script, args = f"{lock.acquire}; {script}", (*[lock.wait_s] * lock.waits, *args)
        try:
            sets = await self.fetch_sets(script, args)
        except ArchiveError:  # `then` failed cleanly (a missing table): the lock is held
            await self._roll_back(lock.release if lock else None)
            raise
        if lock is None:
            return sets[1:]
        taken = sets[0].rows
        if not taken or taken[0][0] != 1:
            await self._roll_back(lock.release)
            raise DatabaseUnavailable(
                message=f"another batch held the archive lock for {lock.wait_s} s; retry the batch"
            )
        return sets[2:]

    async def _roll_back(self, release: str | None) -> None:
        """ROLLBACK, and release the lock (if any) in the same round trip."""
        await self.fetch_sets("ROLLBACK" + (f"; {release}" if release else ""))

    async def _commit(self, transaction: Transaction, release: str | None) -> None:
        """COMMIT and release (if a lock was taken) in one round trip, with the transaction's
        note before COMMIT (in the transaction) or after the release, and its after-commit
        statement between COMMIT and release. Neither the note nor the after-commit statement
        ever stops the commit: their errors go to transaction.note_error and
        after_commit_error."""
        script: list[tuple[str, str | Statement]] = []
        note = transaction.note
        if note is not None and transaction.note_in_transaction:
            script.append(("note", note))
        script.append(("commit", "COMMIT"))
        if transaction.after_commit is not None:
            script.append(("after_commit", transaction.after_commit))
        if release is not None:
            script.append(("release", release))
        if note is not None and not transaction.note_in_transaction:
            script.append(("note", note))
        committed = False
        while script:
            done, error = await self._run_until_failure([s for _, s in script])
            committed = committed or any(role == "commit" for role, _ in script[:done])
            if error is None:
                return
            role, rest = script[done][0], script[done + 1 :]
            if role in ("commit", "release") or _code(error) is None:
                raise error
            if role == "note":
                transaction.note_error = _reason(error)
            else:
                transaction.after_commit_error = _reason(error)
                log.warning("after the batch's COMMIT: %s", _reason(error))
            if _code(error) in _CONNECTION_LOST:
                if not committed:  # the batch is lost with the connection
                    raise error
                if any(r == "note" for r, _ in rest):
                    transaction.note_error = _reason(error)
                self._connection.close()  # the batch stands, not the connection
                return
            if not committed and not (await self.fetch_all(statements.IN_TRANSACTION))[0][0]:
                # The note's failure ended the transaction (a deadlock): the batch reruns.
                if release is not None:
                    await self.fetch_sets(release)
                raise TransientConflict()
            script = rest

    async def _run_until_failure(
        self, script: Sequence[str | Statement]
    ) -> tuple[int, pymysql.err.MySQLError | None]:
        """Run statements in one round trip: how many succeeded, and the error of the one
        that failed (the server stops there), or None."""
        async with self._connection.cursor() as cursor:
            text = "; ".join(s if isinstance(s, str) else _text_of(cursor, *s) for s in script)
            done = 0
            try:
                await cursor.execute(text)
                done = 1
                while await cursor.nextset():
                    done += 1
            except pymysql.err.MySQLError as error:
                return done, error
        return done, None

    @property
    def thread_id(self) -> int:
        """The server's id of this connection (what KILL takes)."""
        return int(self._connection.thread_id())


class Database:
    """A pool of connections to the Vicidial database."""

    def __init__(self, pool: aiomysql.Pool, url: DatabaseUrl) -> None:
        self._pool = pool
        self.url = url

    @classmethod
    async def connect(cls, url: DatabaseUrl, *, pool_size: int = 8) -> Database:
        """Open the pool, or raise DatabaseUnavailable with a one-line reason."""
        try:
            pool = await aiomysql.create_pool(
                host=url.host,
                port=url.port,
                user=url.user,
                password=url.password,
                db=url.database or None,
                charset="utf8mb4",
                autocommit=True,
                minsize=1,
                maxsize=pool_size,
                pool_recycle=3600,
                connect_timeout=10,
                init_command=statements.SESSION_SETUP,
            )
        except (pymysql.err.MySQLError, OSError) as error:
            raise DatabaseUnavailable(
                message=f"cannot connect to {url.masked()}: {_reason(error)}"
            ) from None
        return cls(pool, url)

    async def close(self) -> None:
        """Close every connection."""
        self._pool.close()
        await self._pool.wait_closed()

    @property
    def closed(self) -> bool:
        """Whether close() has finished."""
        return bool(self._pool.closed)

    @property
    def pool_stats(self) -> tuple[int, int]:
        """(connections in use, connections open); a connection being opened counts as both
        (aiomysql's public size counts it, and it is opened to be lent)."""
        return self._pool.size - self._pool.freesize, self._pool.size

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """Lend one connection; a connection left in an unknown state is closed, not reused."""
        try:
            connection = await self._pool.acquire()
        except (pymysql.err.MySQLError, OSError) as error:
            raise _translate(error) from None
        try:
            yield Session(connection)
        except (pymysql.err.MySQLError, OSError) as error:
            connection.close()
            raise _translate(error) from None
        except ArchiveError:
            raise  # raised by our own code between statements: the connection is clean
        except BaseException:
            connection.close()  # cancelled or crashed mid-statement
            raise
        finally:
            self._pool.release(connection)


def _code(error: BaseException) -> int | None:
    """The server's (or the driver's) error number."""
    return error.args[0] if error.args and isinstance(error.args[0], int) else None


def _translate(error: BaseException) -> ServerError:
    """Map a driver error to the service's vocabulary; log the detail, never return it."""
    code = _code(error)
    if code in _RETRYABLE:
        return TransientConflict()
    if code in _NEEDS_REPAIR:
        log.error("table needs repair: %s", _reason(error))
        return _needs_repair(_reason(error))
    if code in _CONNECTION_LOST or isinstance(error, OSError):
        log.warning("database connection lost: %s", _reason(error))
        return DatabaseUnavailable()
    log.error("database error: %s", _reason(error))
    return ServerError()


def _needs_repair(reason: str) -> TableNeedsRepair:
    """Name the table to repair when the server's message names it."""
    found = _TABLE_NAME.search(reason)
    if found is None:
        return TableNeedsRepair()
    table = found.group(1)
    return TableNeedsRepair(
        message=f"table {table} is marked as crashed or its index is corrupt: run "
        f"REPAIR TABLE {table}, then 'lead-archive verify', then rerun the batch"
    )


def _reason(error: BaseException) -> str:
    """The driver's own words for an error, without the SQL it ran."""
    if isinstance(error, pymysql.err.MySQLError) and len(error.args) >= 2:
        return f"({error.args[0]}) {error.args[1]}"
    return str(error) or type(error).__name__
