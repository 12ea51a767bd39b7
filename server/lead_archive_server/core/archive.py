"""The archive itself: validate a batch, then insert, update and safely delete it.

Plain async functions over a Database; nothing here knows about gRPC or HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol, TypeVar

from lead_archive_client.model import ArchiveResult
from lead_archive_client.vocabulary import MAX_LEADS_PER_BATCH

from lead_archive_server.core import sql
from lead_archive_server.core.db import (
    Database,
    NamedLock,
    NoSuchTable,
    ResultSet,
    Row,
    Session,
    Statement,
    Transaction,
)
from lead_archive_server.core.dialer import (
    DialerRead,
    DialerState,
    DialerTables,
    DialerTablesChanged,
    delete_steps,
    dialer_tables_may_go,
    finish_delete,
    hopper_sweep,
)
from lead_archive_server.core.errors import (
    DeleteLeadsNotBoolean,
    DuplicateLeadIds,
    InsertLeadsNotBoolean,
    NoLeadIds,
    ServerError,
    TooManyLeadIds,
    TransientConflict,
    UnknownLeadIds,
    UpdateLeadsNotBoolean,
)
from lead_archive_server.core.phases import phase
from lead_archive_server.core.schema import (
    SchemaCache,
    current_schema,
    definitions_key,
    read_archive_schema,
)
from lead_archive_server.core.sql import ARCHIVING, Flow
from lead_archive_server.core.steps import Step, run_steps, step_if

log = logging.getLogger(__name__)

BATCH_LOCK_TIMEOUT_S = 30
# A batch rolled back by a lock conflict reruns after about this, doubling each time.
RETRY_PAUSE_S = 0.05
# Lead IDs within a window narrower than this many times their number are read as one range,
# when at most this share of them lie outside it (those go in a short IN list).
SPAN_FACTOR = 2
MAX_OUTLIER_SHARE = 0.1
# Column lists by both tables' definitions, shared by every batch (see SchemaCache).
SCHEMAS = SchemaCache()
# Which dialer tables each database has (see DialerTables).
DIALER = DialerTables()

Result = TypeVar("Result")
ResultContra = TypeVar("ResultContra", contravariant=True)
# A membership list cut short by GROUP_CONCAT (see _id_set); nothing was written yet.
MEMBERSHIP_CUT_SHORT = (
    "the database cut the batch's lead list short (group_concat_max_len is below the "
    "1 MiB the service sets per connection); nothing was changed"
)
# The table option in SHOW CREATE TABLE (after the last column and key).
_INNODB = re.compile(r"\n\) ENGINE=InnoDB\b")


@dataclass(frozen=True)
class ArchiveBatch:
    """A request that passed the field checks: flags and distinct lead IDs."""

    insert: bool
    update: bool
    delete: bool
    lead_ids: tuple[int, ...]

    @classmethod
    def validated(
        cls,
        *,
        insert: bool | None,
        update: bool | None,
        delete: bool | None,
        lead_ids: Sequence[int],
    ) -> ArchiveBatch:
        """Apply the documented field checks in order; the first failure is raised."""
        if insert is None:
            raise InsertLeadsNotBoolean()
        if update is None:
            raise UpdateLeadsNotBoolean()
        if delete is None:
            raise DeleteLeadsNotBoolean()
        return cls(insert, update, delete, batch_lead_ids(lead_ids))


def batch_lead_ids(lead_ids: Sequence[int]) -> tuple[int, ...]:
    """The lead IDs of a batch after the documented lead_ids checks, in their order (none,
    too many, duplicates); the first failure is raised. Archive and restore alike."""
    if not lead_ids:
        raise NoLeadIds()
    if len(lead_ids) > MAX_LEADS_PER_BATCH:
        raise TooManyLeadIds()
    distinct = tuple(lead_ids)
    if len(set(distinct)) != len(distinct):
        raise DuplicateLeadIds([lead_id for lead_id, seen in Counter(distinct).items() if seen > 1])
    return distinct


async def archive_leads(
    db: Database,
    batch: ArchiveBatch,
    *,
    attempts: int = 5,
    schemas: SchemaCache | None = None,
    dialer_guard: bool = True,
    range_locks: bool = False,
    note: CommitNote[ArchiveResult] | None = None,
) -> ArchiveResult:
    """Archive one batch; a deadlock rolls back the whole batch and it runs again.

    With `dialer_guard` (LEAD_ARCHIVE_DIALER_GUARD, default on) the delete phase keeps the
    leads Vicidial's dialer uses and takes their READY hopper rows with the others; right
    after the COMMIT, in its round trip, the hopper is swept of rows naming a deleted lead
    (see dialer.hopper_sweep). With `range_locks` the batch locks its ranges of lead IDs, not
    the database (see batch_lock). A `note` (the audit row) is written with the batch's COMMIT
    (see CommitNote).
    """
    database = db.url.database

    async def attempt(session: Session) -> ArchiveResult:
        guarded = dialer_guard and batch.delete
        dialer = DialerRead.plan(DIALER, database, batch.lead_ids) if guarded else None
        try:
            async with locked_batch(
                session, batch.lead_ids, sql.ARCHIVING, dialer, ranges=range_locks
            ) as locked:
                result = await _archive(session, batch, schemas or SCHEMAS, locked.leads)
                locked.write_with_commit(note, result)
                sweep = hopper_sweep(locked.leads.dialer, batch.lead_ids, result.delete_count)
                locked.transaction.after_commit = sweep
        except DialerTablesChanged:
            DIALER.forget(database)  # with_retries runs the batch again, asking afresh
            raise
        locked.committed(note)
        return result

    return await with_retries(db, attempts, attempt)


class CommitNote(Protocol[ResultContra]):
    """A row that records a batch (the service's audit row), written with its COMMIT.

    On transactional tables it commits with the batch (one commit for both); on MyISAM it
    follows the lock's release. Its failure never fails the batch: `written` hears of it.
    """

    def statement(self, result: ResultContra) -> Statement | None:
        """The row's INSERT for the batch's result; None when there is nothing to record."""
        ...

    def written(self, error: str | None) -> None:
        """After the commit: why the row (if `statement` gave one) was not written, or None."""
        ...


@dataclass(frozen=True)
class LockedBatch:
    """A batch under the lock: its leads as found, and its open transaction."""

    leads: LeadsFound
    transaction: Transaction

    def write_with_commit(self, note: CommitNote[Result] | None, result: Result) -> None:
        """Leave the note's row (if any) to be written with the COMMIT."""
        if note is not None:
            self.transaction.note = note.statement(result)
            self.transaction.note_in_transaction = self.leads.transactional

    def committed(self, note: CommitNote[Result] | None) -> None:
        """Tell the note how its row fared (if it had one), once the batch committed."""
        if note is not None:
            note.written(self.transaction.note_error)


async def with_retries(
    db: Database, attempts: int, attempt: Callable[[Session], Awaitable[Result]]
) -> Result:
    """Run a batch on a pooled session; a deadlock rolls it all back and it runs again."""
    for number in range(1, attempts + 1):
        try:
            async with db.session() as session:
                return await attempt(session)
        except TransientConflict:
            if number == attempts:
                raise
            log.info("lock conflict on attempt %d, retrying the batch", number)
            # Jittered, so that transactions that deadlocked together do not meet again.
            await asyncio.sleep(RETRY_PAUSE_S * 2**number * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")


def batch_lock(lead_ids: Sequence[int], *, ranges: bool) -> NamedLock:
    """The named locks a batch holds from its first round trip to its end: one per range of
    sql.LEAD_RANGE lead IDs that the batch touches, and unless `ranges` the database's first.

    Batches that share a lead share its range, so they run one after the other; batches on
    other ranges run side by side (InnoDB's row locks keep their statements apart; MyISAM's
    table locks take them in turn) unless they take the database's lock, as by default.
    Ranges are taken in ascending order and the database's lock before any, so two batches
    never wait for each other's. Taking its ranges under the database's lock too keeps a
    replica in either mode apart from one in the other, as while replicas are switched one at
    a time; against a version that takes the database's lock alone, every replica must stay
    in the database mode until all are upgraded.
    """
    database = [] if ranges else [sql.DATABASE_LOCK]
    names = database + [sql.range_lock(r) for r in sql.lead_ranges(lead_ids)]
    return NamedLock(
        sql.acquire_locks(names), sql.release_locks(names), BATCH_LOCK_TIMEOUT_S, waits=len(names)
    )


@asynccontextmanager
async def locked_batch(
    session: Session,
    lead_ids: Sequence[int],
    flow: Flow,
    dialer: DialerRead | None = None,
    *,
    ranges: bool = False,
) -> AsyncIterator[LockedBatch]:
    """Hold the batch alone: one batch at a time per database (archive and restore alike),
    or with `ranges` (LEAD_ARCHIVE_BATCH_LOCKS=ranges) one at a time per range of lead IDs
    (see batch_lock), inside one transaction that commits when the block ends, and rolls back
    on an error.

    The membership query and both tables' definitions ride in the round trip that takes the
    lock and begins: the server runs them once the lock is held. The membership query is the
    transaction's first statement on both tables: from then on it holds their metadata locks
    until COMMIT (on MyISAM too), so ALTER TABLE waits, and the definitions read right after
    it are those every later statement sees.

    An archive batch that deletes under the dialer guard (`dialer` given) asks about the
    dialer tables in the same round trip (see DialerRead); the answer is in LeadsFound.dialer.
    """
    membership = _Membership.of(lead_ids, flow)
    select, args = (
        dialer.membership(membership.sql, membership.args)
        if dialer
        else (membership.sql, membership.args)
    )
    read = f"{select}; {sql.SHOW_CREATE_TABLES}" + (dialer.statements if dialer else "")
    lock = batch_lock(lead_ids, ranges=ranges)
    async with AsyncExitStack() as stack:
        try:
            # Time spent queueing behind other batches, and the membership read.
            with phase("lock"):
                transaction = await stack.enter_async_context(
                    session.transaction(read, args, lock=lock)
                )
        except NoSuchTable:
            (await read_archive_schema(session)).require_tables()  # says which table
            if dialer is not None:  # the hopper went since the last batch
                raise DialerTablesChanged() from None
            raise
        found = transaction.found
        read_leads = membership.result_sets + 2  # and both tables' definitions
        with phase("select"):
            leads = _read_leads(lead_ids, membership, found[:read_leads])
        if dialer is not None:
            hopper_rows = membership.hopper_rows(found) if dialer.span else None
            leads = replace(leads, dialer=dialer.read(DIALER, found[read_leads:], hopper_rows))
        yield LockedBatch(leads, transaction)


async def checked_columns(
    session: Session,
    leads: LeadsFound,
    schemas: SchemaCache,
    *,
    restoring: bool = False,
) -> tuple[str, ...]:
    """Refuse missing leads, then return the columns to copy (refusing a target that cannot
    hold an exact copy); the same for archive and restore, nothing written yet."""
    if leads.missing:
        raise UnknownLeadIds(leads.missing)
    with phase("schema"):
        schema = await current_schema(session, leads.definitions, schemas)
    if restoring:
        schema = schema.for_restore()
    schema.require_exact_copy()
    return schema.columns


async def _archive(
    session: Session,
    batch: ArchiveBatch,
    schemas: SchemaCache,
    leads: LeadsFound,
) -> ArchiveResult:
    """Validate existence, then insert, update and delete, each one set-based statement
    (sent together: see steps)."""
    columns = await checked_columns(session, leads, schemas)
    archived = leads.in_target
    new = [lead_id for lead_id in batch.lead_ids if lead_id not in archived]
    old = [lead_id for lead_id in batch.lead_ids if lead_id in archived]
    steps = [
        step_if("insert", batch.insert, sql.insert_missing(columns, len(new)), new),
        step_if("update", batch.update, sql.update_archived(columns, len(old)), old),
        *(
            delete_steps(columns, batch.lead_ids, leads.dialer)
            if batch.delete
            else (Step("hopper"), Step("delete"))
        ),
    ]
    with dialer_tables_may_go() if leads.dialer else nullcontext():
        inserted, updated, _, first_delete = await run_steps(session, steps)
    selected = len(batch.lead_ids)
    if not batch.delete:
        return ArchiveResult(selected, inserted, updated)
    deleted, in_use = await finish_delete(
        session, columns, batch.lead_ids, leads.dialer, first_delete
    )
    return ArchiveResult(
        select_count=selected,
        insert_count=inserted,
        update_count=updated,
        delete_count=deleted,
        kept_count=selected - deleted - in_use,
        in_use_count=in_use,
    )


@dataclass(frozen=True)
class _Membership:
    """How to ask which requested leads are in the source table and which in the target.

    When most IDs fall in a window narrower than SPAN_FACTOR times their number, that window
    is read as one range of each table and the few others by an IN list (two statements, see
    sql.select_batch_leads_in_span); otherwise every ID goes in the IN list of one join
    (sql.select_batch_leads). Either way only the requested IDs count.
    """

    sql: str
    args: tuple[int, ...]
    in_span: bool
    count: int  # the requested IDs

    @property
    def only_requested(self) -> bool:
        """Whether every lead the query can find was requested: an IN list, or a span as
        wide as the number of IDs it holds (consecutive IDs, no outlier)."""
        if not self.in_span:
            return True
        first, last, *outliers = self.args[: len(self.args) // 2]
        return not outliers and last - first + 1 == self.count

    @property
    def result_sets(self) -> int:
        """How many result sets the query returns: the source's and the target's in a span."""
        return 2 if self.in_span else 1

    def counts(self, found: Sequence[ResultSet]) -> Row:
        """(in source, their digits, their IDs, in target, their digits, their IDs)."""
        if self.in_span:
            return (*found[0].rows[0][:3], *found[1].rows[0][:3])
        return tuple(found[0].rows[0][:6])

    def hopper_rows(self, found: Sequence[ResultSet]) -> int:
        """The hopper span column (DialerRead.membership) that follows the counts."""
        return int(found[0].rows[0][3 if self.in_span else 6])

    @classmethod
    def of(cls, lead_ids: Sequence[int], flow: Flow = ARCHIVING) -> _Membership:
        ordered = sorted(lead_ids)
        first, last = _densest_window(ordered, SPAN_FACTOR * len(ordered))
        outliers = ordered[:first] + ordered[last + 1 :]
        if len(outliers) > len(ordered) * MAX_OUTLIER_SHARE:
            statement = sql.select_batch_leads(len(lead_ids), flow)
            return cls(statement, tuple(lead_ids), False, len(lead_ids))
        window = (ordered[first], ordered[last])
        statement = sql.select_batch_leads_in_span(len(outliers), flow)
        return cls(statement, (*window, *outliers) * 2, True, len(lead_ids))


def _densest_window(ordered: Sequence[int], width: int) -> tuple[int, int]:
    """Indexes (first, last) of the most sorted IDs that lie within less than `width`."""
    if ordered[-1] - ordered[0] < width:  # the usual batch: all of them
        return 0, len(ordered) - 1
    best, first = (0, 0), 0
    for last, value in enumerate(ordered):
        while value - ordered[first] >= width:
            first += 1
        if last - first > best[1] - best[0]:
            best = (first, last)
    return best


@dataclass(frozen=True)
class LeadsFound:
    """The requested leads as the batch found them under the lock."""

    missing: list[int]  # not in the source table, in request order
    # Already in the target; may hold other IDs of a span too, and IDs missing from the
    # source (a batch with missing IDs stops before it looks here).
    in_target: frozenset[int]
    definitions: tuple[str, str]  # both tables' definitions (schema.definitions_key)
    dialer: DialerState | None = None  # under the dialer guard: what the batch found of it

    @property
    def transactional(self) -> bool:
        """Whether both tables are InnoDB (the batch commits or rolls back as one)."""
        return all(_INNODB.search(definition) for definition in self.definitions)

    @property
    def archived(self) -> frozenset[int]:
        """When archiving: the requested leads already in the archive."""
        return self.in_target


def _read_leads(
    lead_ids: Sequence[int], membership: _Membership, found: list[ResultSet]
) -> LeadsFound:
    """The leads from the membership query's results, and both tables' definitions."""
    leads_table, archive_table = found[membership.result_sets :][:2]
    definitions = definitions_key(leads_table.rows[0][1], archive_table.rows[0][1])
    row = membership.counts(found)
    in_source, source_digits, source_ids, in_target, target_digits, target_ids = row
    # Without a span every row is a requested lead (the IDs are distinct, lead_id the key);
    # so is every row of a span that holds only requested IDs.
    every_lead_exists = membership.only_requested and in_source == len(lead_ids)
    existing = frozenset() if every_lead_exists else _id_set(source_ids, in_source, source_digits)
    copied = _id_set(target_ids, in_target, target_digits)
    missing = [] if every_lead_exists else [i for i in lead_ids if i not in existing]
    return LeadsFound(missing, copied, definitions)


def _id_set(text: str | bytes | None, count: int, digits: Decimal | None) -> frozenset[int]:
    """Lead IDs from GROUP_CONCAT text; refuse the batch unless all `count` came back whole.

    `digits` is the IDs' total length: with the commas it is the length of the whole list,
    so a list cut anywhere, even inside its last ID, is never mistaken for a complete one.
    A batch's list is at most some 1,050 IDs (500 requested, a span at most twice as wide,
    a few outliers: about 12 KB), far below the 1 MiB sql.SESSION_SETUP asks for; only a
    connection whose setting was lowered or not applied can cut it.
    """
    if not count:
        return frozenset()
    listed = _text(text)
    if len(listed) != int(digits or 0) + count - 1:
        log.error("GROUP_CONCAT cut the batch's lead IDs: group_concat_max_len is too low")
        raise ServerError(message=MEMBERSHIP_CUT_SHORT)
    return frozenset(int(i) for i in listed.split(","))


def _text(value: str | bytes | None) -> str:
    """GROUP_CONCAT's value as text (some servers send a binary string)."""
    return value.decode() if isinstance(value, bytes) else value or ""
