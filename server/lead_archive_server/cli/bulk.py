"""Archive (or restore) many leads with one command: select them, batch them, send them
through the API.

Leads are selected the way Vicidial's ADMIN_archive_leads.pl selects them (lists, campaigns,
statuses, last-call and entry-date cut-offs, all combined with AND) or taken from a list of
lead IDs. They are read one page at a time (keyset pagination on lead_id) and each page is
one batch of at most 500, sent through the Lead Archive API with several batches in flight.

This module only reads the database, to choose and count leads; every change goes through
the API, so the service's rules (keys, office hours, compare before delete) always hold.

A rerun finishes an interrupted run: the selection is read again; leads that were moved are
no longer in vicidial_list and so are not selected; leads that were copied but not deleted
are already in the archive, so the API inserts nothing for them and deletes them once their
copy is identical. Nothing is copied twice and nothing is deleted without its copy.

``lead-archive restore`` is the same run the other way (a Job whose flow is sql.RESTORING):
leads are selected from vicidial_list_archive and sent to RestoreLeads.

Pacing, as pt-archiver and ADMIN_archive_leads.pl offer it: a sleep between batches, a pause
while a replica lags too far behind (``ReplicaLag``), and OPTIMIZE TABLE on the source table
at the end (``optimize_source``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from array import array
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any, Protocol

from lead_archive_client import (
    MAX_LEADS_PER_BATCH,
    ArchiveResult,
    InvalidLeads,
    LeadArchiveError,
    OfficeHours,
    RestoreResult,
    Unauthenticated,
    UnknownLeads,
)

from lead_archive_server.core import sql
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import ArchiveError
from lead_archive_server.core.schema import read_archive_schema

LEAD_ID_MAX = 2**32 - 1  # vicidial_list.lead_id is INT UNSIGNED
MAX_CONCURRENCY = 32
READ_AHEAD_PAGES = 2  # selection pages read while batches run
# ADMIN_archive_leads.pl's --campaigns=---ALL---: every list in vicidial_lists.
ALL_CAMPAIGNS = "---ALL---"
# How often a lagging replica is asked again (pt-archiver's --check-interval is 1 s).
LAG_POLL_S = 1.0
_SEPARATORS = re.compile(r"[\s,]+")

EXIT_OK = 0
EXIT_INCOMPLETE = 1  # something was not archived, or the run failed
EXIT_USAGE = 2
EXIT_OFFICE_HOURS = 3
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C


class JobError(ValueError):
    """The command's options do not make a job; the message says why, in one line."""


# --- What to archive --------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which leads to archive: every cut-off given must hold, as in ADMIN_archive_leads.pl.

    Dates are exclusive: ``called_before`` 2024-01-01 takes leads whose last_local_call_time is
    before 2024-01-01 00:00:00 (never-called leads too: Vicidial's list loader writes
    2008-01-01 00:00:00 for them; a NULL is never before anything), and
    ``entered_before`` works the same on entry_date.
    """

    list_ids: tuple[int, ...] = ()
    campaigns: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    called_before: date | None = None
    entered_before: date | None = None

    @property
    def is_empty(self) -> bool:
        """True when no cut-off is given (which would select every lead)."""
        return self == Selection()

    @property
    def all_campaigns(self) -> bool:
        """``--campaign ---ALL---``: the leads of every list in vicidial_lists."""
        return ALL_CAMPAIGNS in self.campaigns

    def describe(self, table: str = sql.LEADS) -> str:
        """One line for people, e.g. ``list 1001, status NEW or SALE``."""
        campaigns = ["every list in vicidial_lists"] if self.all_campaigns else []
        parts = [
            _either("list", [str(i) for i in self.list_ids]),
            *campaigns,
            _either("campaign", [] if campaigns else list(self.campaigns)),
            _either("status", list(self.statuses)),
            f"last called before {self.called_before}" if self.called_before else "",
            f"entered before {self.entered_before}" if self.entered_before else "",
        ]
        return ", ".join(p for p in parts if p) or f"every lead in {table}"


def _either(name: str, values: list[str]) -> str:
    return f"{name} {' or '.join(values)}" if values else ""


@dataclass(frozen=True)
class Job:
    """One run of ``lead-archive archive`` (or ``restore``): which leads, how to send them."""

    selection: Selection = Selection()
    lead_ids: Sequence[int] | None = None  # from --ids-from: sorted, distinct
    delete: bool = True
    dry_run: bool = False
    batch_size: int = MAX_LEADS_PER_BATCH
    concurrency: int = 4
    flow: sql.Flow = sql.ARCHIVING  # sql.RESTORING for `lead-archive restore`
    sleep_s: float = 0.0  # between batches (--sleep)
    max_replica_lag_s: float | None = None  # pause while a replica is further behind
    optimize: bool = False  # OPTIMIZE TABLE on the source table at the end

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_LEADS_PER_BATCH:
            raise JobError(f"--batch-size must be 1 to {MAX_LEADS_PER_BATCH}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise JobError(f"--concurrency must be 1 to {MAX_CONCURRENCY}")
        if self.lead_ids is not None and not self.selection.is_empty:
            raise JobError("--ids-from selects the leads itself: give no other selection option")
        if self.selection.all_campaigns and len(self.selection.campaigns) > 1:
            raise JobError(f"--campaign {ALL_CAMPAIGNS} takes every list: name no other campaign")
        if not 0 <= self.sleep_s <= 3600:
            raise JobError("--sleep must be 0 to 3600 seconds")
        if self.max_replica_lag_s is not None and not self.max_replica_lag_s >= 0:
            raise JobError("--max-replica-lag must be 0 seconds or more")

    @property
    def restoring(self) -> bool:
        """Whether the job brings leads back from the archive."""
        return self.flow == sql.RESTORING

    def describe(self) -> str:
        """What the job takes, in one line."""
        if self.lead_ids is not None:
            return f"{len(self.lead_ids)} lead IDs from the list given"
        return self.selection.describe(self.flow.source)


def parse_day(text: str, *, today: date) -> date:
    """``YYYY-MM-DD``, ``today`` or ``yesterday`` (as ADMIN_archive_leads.pl reads them)."""
    word = text.strip().lower()
    if word == "today":
        return today
    if word == "yesterday":
        return today - timedelta(days=1)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", word):
        try:
            return date.fromisoformat(word)
        except ValueError:
            pass
    raise JobError(f"{text!r} is not a date: use YYYY-MM-DD, today or yesterday")


def ascii_number(text: str) -> int | None:
    """The number written in ASCII digits only, else None (int() takes '١٢' as 12)."""
    return int(text) if text.isascii() and text.isdigit() else None


def split_values(values: Iterable[str]) -> tuple[str, ...]:
    """Options given several times or comma-separated, in order, without blanks or repeats."""
    found: dict[str, None] = {}
    for value in values:
        for part in value.split(","):
            if part.strip():
                found[part.strip()] = None
    return tuple(found)


@dataclass(frozen=True)
class LeadIdList:
    """Lead IDs read from a file: sorted, distinct, and how many repeats were dropped."""

    lead_ids: array[int]
    repeats: int


def read_lead_ids(lines: Iterable[str], *, source: str) -> LeadIdList:
    """Read lead IDs separated by spaces, commas or newlines; ``#`` starts a comment.

    Raises JobError naming the line of the first value that is not a lead ID (1 to 2^32-1),
    before anything is sent.
    """
    seen: set[int] = set()
    count = 0
    for number, line in enumerate(lines, start=1):
        for token in _SEPARATORS.split(line.split("#", 1)[0].strip()):
            if not token:
                continue
            lead_id = ascii_number(token)
            if lead_id is None or not 1 <= lead_id <= LEAD_ID_MAX:
                raise JobError(f"{source}, line {number}: {token[:40]!r} is not a lead ID")
            seen.add(lead_id)
            count += 1
    return LeadIdList(array("Q", sorted(seen)), count - len(seen))


# --- Where the leads come from ------------------------------------------------------------------


class LeadSource(Protocol):
    """Pages of lead IDs to archive, and how many there are when the run starts."""

    @property
    def total(self) -> int:
        """How many leads the source holds (counted when it was opened)."""
        ...

    def pages(self) -> AsyncGenerator[list[int], None]:
        """Yield the lead IDs one batch at a time."""
        ...


@dataclass
class SelectedLeads:
    """Leads that match a selection now, read page by page in lead_id order."""

    db: Database
    where: sql.LeadFilter
    page_size: int
    counted: int = 0
    table: str = sql.LEADS  # the archive, for a restore

    @property
    def total(self) -> int:
        """How many leads matched when they were counted."""
        return self.counted

    async def count(self) -> int:
        """Count the matching leads (one set-based query)."""
        async with self.db.session() as session:
            rows = await session.fetch_all(
                sql.count_selected(self.where, self.table), self.where.args
            )
        self.counted = int(rows[0][0])
        return self.counted

    async def pages(self) -> AsyncGenerator[list[int], None]:
        """Yield pages after the last lead_id seen, so deleted leads never shift a page."""
        last = 0
        while True:
            async with self.db.session() as session:
                rows = await session.fetch_all(
                    sql.select_page(self.where, self.table),
                    (last, *self.where.args, self.page_size),
                )
            page = [int(row[0]) for row in rows]
            if not page:
                return
            yield page
            last = page[-1]


@dataclass
class ListedLeads:
    """Lead IDs the operator listed, in lead_id order."""

    lead_ids: Sequence[int]
    page_size: int

    @property
    def total(self) -> int:
        """How many distinct lead IDs were listed."""
        return len(self.lead_ids)

    async def pages(self) -> AsyncGenerator[list[int], None]:
        """Yield the list in slices."""
        for start in range(0, len(self.lead_ids), self.page_size):
            yield list(self.lead_ids[start : start + self.page_size])


async def open_source(db: Database, job: Job) -> LeadSource:
    """The leads a job takes, counted; campaigns are resolved to their lists first."""
    if job.lead_ids is not None:
        return ListedLeads(job.lead_ids, job.batch_size)
    selection = job.selection
    list_ids = selection.list_ids
    if selection.campaigns:
        list_ids = await _lists_of(db, selection.campaigns, list_ids)
    where = sql.lead_filter(
        list_ids=list_ids,
        statuses=selection.statuses,
        called_before=_midnight(selection.called_before),
        entered_before=_midnight(selection.entered_before),
    )
    source = SelectedLeads(db, where, job.batch_size, table=job.flow.source)
    await source.count()
    return source


async def _lists_of(db: Database, campaigns: Sequence[str], only: Sequence[int]) -> tuple[int, ...]:
    """The lists of the campaigns (within ``only`` when given), or JobError if there are none."""
    async with db.session() as session:
        exists = await session.fetch_all(sql.TABLE_EXISTS, (sql.LISTS,))
        if not exists[0][0]:
            raise JobError(f"--campaign needs Vicidial's {sql.LISTS} table, which is missing")
        if ALL_CAMPAIGNS in campaigns:
            rows = await session.fetch_all(sql.ALL_LISTS)
        else:
            rows = await session.fetch_all(sql.campaign_lists(len(campaigns)), campaigns)
    lists = tuple(int(row[0]) for row in rows)
    named = " or ".join(campaigns)
    if not lists:
        raise JobError(f"campaign {named} has no lists in {sql.LISTS}")
    if only:
        lists = tuple(list_id for list_id in lists if list_id in only)
        if not lists:
            raise JobError(f"list {' or '.join(map(str, only))} is not in campaign {named}")
    return lists


def _midnight(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min)


async def _present(db: Database, table: str, lead_ids: Sequence[int]) -> set[int]:
    """Which of the lead IDs a table holds."""
    async with db.session() as session:
        rows = await session.fetch_all(sql.leads_present(table, len(lead_ids)), lead_ids)
    return {int(row[0]) for row in rows}


# --- Dry run ---------------------------------------------------------------------------------


@dataclass
class Survey:
    """What a run would do, read without changing anything.

    The names are the archive's; for a restore "archived" reads "already in vicidial_list",
    and a lead whose live row differs is kept in both tables instead of updated.
    """

    selected: int = 0
    not_archived: int = 0  # would be inserted, then deleted
    archived_same: int = 0  # have an identical copy: would only be deleted
    archived_different: int = 0  # have an older copy: would be updated, then deleted
    already_archived: int = 0  # listed IDs no longer in the source, but in the target
    not_found: int = 0  # listed IDs in neither table
    drift: str | None = None  # why the API would refuse every batch, if it would


async def survey(
    db: Database,
    source: LeadSource,
    watch: Callable[[int], None] = lambda done: None,
    flow: sql.Flow = sql.ARCHIVING,
) -> Survey:
    """Classify every lead of the source, page by page; ``watch`` gets the leads done so far."""
    async with db.session() as session:
        schema = await read_archive_schema(session)
    if flow == sql.RESTORING:
        schema = schema.for_restore()
    result = Survey(selected=source.total, drift=schema.drift)
    if schema.drift:
        return result
    done = 0
    async for page in source.pages():
        async with db.session() as session:
            rows = await session.fetch_all(sql.survey_leads(schema.columns, len(page), flow), page)
        for _, archived, same in rows:
            if not archived:
                result.not_archived += 1
            elif same:
                result.archived_same += 1
            else:
                result.archived_different += 1
        absent = set(page) - {int(row[0]) for row in rows}
        if absent:
            in_target = len(await _present(db, flow.target, sorted(absent)))
            result.already_archived += in_target
            result.not_found += len(absent) - in_target
        done += len(page)
        watch(done)
    return result


# --- The run ---------------------------------------------------------------------------------


class StopReason(Enum):
    """Why a run stopped before the end."""

    INTERRUPTED = "interrupted"
    OFFICE_HOURS = "office hours"
    UNAUTHENTICATED = "key refused"
    FAILED = "server error"


@dataclass
class Tally:
    """What a run did so far."""

    selected: int
    result: ArchiveResult = field(default_factory=ArchiveResult)
    already_archived: int = 0  # gone from the source before their batch; in the target
    not_found: int = 0  # in neither table
    errors: int = 0  # in batches that failed
    abandoned: int = 0  # in batches cancelled in flight by a second Ctrl-C
    batches: int = 0
    waited_s: float = 0.0  # paused for a lagging replica
    finished: bool = False  # every page was read and sent
    stop: StopReason | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        """Leads whose batch is over, however it ended."""
        return (
            self.result.select_count
            + self.already_archived
            + self.not_found
            + self.errors
            + self.abandoned
        )

    @property
    def left(self) -> int:
        """Leads selected at the start that no batch has taken yet."""
        return 0 if self.finished else max(self.selected - self.handled, 0)

    @property
    def leads_left(self) -> int:
        """Leads a batch read but left in vicidial_list: data changed, or the dialer used them."""
        return self.result.kept_count + self.result.in_use_count

    @property
    def complete(self) -> bool:
        """True when every selected lead was archived (or copied, with --no-delete)."""
        return (
            self.finished
            and self.stop is None
            and not (self.errors or self.not_found or self.abandoned or self.leads_left)
        )

    def exit_code(self) -> int:
        """0 when complete; 3 for office hours, 130 for Ctrl-C, else 1."""
        if self.stop is StopReason.OFFICE_HOURS:
            return EXIT_OFFICE_HOURS
        if self.stop is StopReason.INTERRUPTED:
            return EXIT_INTERRUPTED
        return EXIT_OK if self.complete else EXIT_INCOMPLETE


class BatchClient(Protocol):
    """What the run needs from a client: AsyncLeadArchiveClient or AsyncRestLeadArchiveClient."""

    async def archive(
        self, lead_ids: Iterable[int], *, insert: bool, update: bool, delete: bool
    ) -> ArchiveResult:
        """Archive one batch."""
        ...

    async def restore(self, lead_ids: Iterable[int]) -> RestoreResult:
        """Restore one batch."""
        ...


class LagSource(Protocol):
    """How far behind a replica is: ReplicaLag, or a fake in tests."""

    async def seconds_behind(self) -> float | None:
        """Seconds_Behind_Master now; None while it replicates nothing (stopped, broken)."""
        ...


@dataclass(frozen=True)
class Pacing:
    """What slows a run down on purpose: a sleep between batches, and a lagging replica."""

    sleep_s: float = 0.0
    replica: LagSource | None = None
    max_lag_s: float = 0.0
    poll_s: float = LAG_POLL_S


async def read_ahead(
    pages: AsyncGenerator[list[int], None], depth: int
) -> AsyncGenerator[list[int], None]:
    """The same pages, up to `depth` of them read ahead by a task of their own.

    The next page's query then runs while batches are in flight, not between one batch's end
    and the next one's start. A failure to read is raised where its page was due.
    """
    queue: asyncio.Queue[list[int] | Exception | None] = asyncio.Queue(maxsize=depth)

    async def fill() -> None:
        try:
            async for page in pages:
                await queue.put(page)
            await queue.put(None)
        except Exception as error:
            await queue.put(error)
        finally:
            await pages.aclose()

    filling = asyncio.create_task(fill())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        filling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await filling


class Archiver:
    """Send a source's pages through the API, ``concurrency`` batches in flight.

    ``interrupt()`` (first Ctrl-C) starts no new batch and lets those in flight finish;
    ``abandon()`` (second Ctrl-C) cancels those too. A batch refused for office hours or
    for the key, or failed by the server, stops the run the same way as ``interrupt()``.
    ``watch`` is called with the tally after every batch.
    """

    def __init__(
        self,
        client: BatchClient,
        db: Database,
        job: Job,
        *,
        watch: Callable[[Tally], None] = lambda tally: None,
        pacing: Pacing | None = None,
        say: Callable[[str], None] = lambda message: None,
    ) -> None:
        self._client = client
        self._db = db
        self._job = job
        self._watch = watch
        self._pacing = pacing or Pacing(sleep_s=job.sleep_s)
        self._say = say
        self._stopping = asyncio.Event()
        self._in_flight: dict[asyncio.Task[None], int] = {}
        self.tally = Tally(selected=0)

    async def run(self, source: LeadSource) -> Tally:
        """Archive every page, or stop cleanly between batches; return the tally."""
        self.tally.selected = source.total
        pages = read_ahead(source.pages(), READ_AHEAD_PAGES)
        first = True
        try:
            async for page in pages:
                await self._wait_for_room()
                if not first:
                    await self._pause(self._pacing.sleep_s)
                first = False
                await self._wait_for_replica()
                if self._stopping.is_set():
                    break
                task = asyncio.create_task(self._batch(page))
                self._in_flight[task] = len(page)
            else:
                self.tally.finished = True
        except ArchiveError as error:  # the next page could not be read
            self._halt(StopReason.FAILED, f"reading the database: {error.message}")
        finally:
            await pages.aclose()
            await self._drain()
        self.tally.finished = self.tally.finished and not self._stopping.is_set()
        return self.tally

    def interrupt(self) -> None:
        """Start no new batch; those in flight finish."""
        self._halt(StopReason.INTERRUPTED)

    def abandon(self) -> None:
        """Cancel the batches in flight too (each one is safe: see the module docstring)."""
        self.interrupt()
        for task in self._in_flight:
            task.cancel()

    @property
    def in_flight(self) -> int:
        """How many batches are being archived now."""
        return len(self._in_flight)

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless (or until) the run is stopping."""
        if seconds > 0 and not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _wait_for_replica(self) -> None:
        """Start no batch while the replica is more than max_lag_s behind (or not replicating).

        As pt-archiver's --max-lag: asked before every batch, then every poll_s while it lags.
        """
        replica = self._pacing.replica
        if replica is None:
            return
        started = asyncio.get_running_loop().time()
        paused = False
        while not self._stopping.is_set():
            try:
                lag = await replica.seconds_behind()
            except ArchiveError as error:
                lag, reason = None, f"cannot ask the replica: {error.message}"
            else:
                reason = "replication is not running" if lag is None else f"{lag:g} s behind"
            if lag is not None and lag <= self._pacing.max_lag_s:
                break
            if not paused:
                self._say(
                    f"Replica {reason} (more than --max-replica-lag {self._pacing.max_lag_s:g} "
                    "s): pausing."
                )
                paused = True
            await self._pause(self._pacing.poll_s)
        if paused:
            self.tally.waited_s += asyncio.get_running_loop().time() - started
            if not self._stopping.is_set():
                self._say("Replica caught up: resuming.")

    async def _wait_for_room(self) -> None:
        while len(self._in_flight) >= self._job.concurrency and not self._stopping.is_set():
            done, _ = await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            self._settle(done)

    async def _drain(self) -> None:
        if self._in_flight:
            done, _ = await asyncio.wait(self._in_flight)
            self._settle(done)

    def _settle(self, done: set[asyncio.Task[None]]) -> None:
        for task in done:
            size = self._in_flight.pop(task)
            if task.cancelled():
                self.tally.abandoned += size
                self.tally.batches += 1
                self._watch(self.tally)
            else:
                task.result()  # a bug in _batch surfaces here rather than vanishing

    def _halt(self, reason: StopReason, problem: str = "") -> None:
        if self.tally.stop is None:
            self.tally.stop = reason
        if problem:
            self.tally.problems.append(problem)
        self._stopping.set()

    async def _batch(self, lead_ids: list[int]) -> None:
        pending = lead_ids
        try:
            while pending:
                try:
                    result = await self._send(pending)
                except UnknownLeads as error:
                    pending = await self._drop_gone(pending, error)
                    continue
                self.tally.result += result
                pending = []
        except OfficeHours:
            self._halt(StopReason.OFFICE_HOURS)
        except Unauthenticated as error:
            self._halt(StopReason.UNAUTHENTICATED, error.message)
        except InvalidLeads as error:
            self.tally.errors += len(pending)
            self.tally.problems.append(f"{len(pending)} leads refused: {error.message}")
        except LeadArchiveError as error:
            self.tally.errors += len(pending)
            self._halt(StopReason.FAILED, error.message)
        except ArchiveError as error:  # reading the database to account for gone leads
            self.tally.errors += len(pending)
            self._halt(StopReason.FAILED, f"reading the database: {error.message}")
        self.tally.batches += 1
        self._watch(self.tally)

    async def _send(self, lead_ids: list[int]) -> ArchiveResult:
        """One batch through the API: archived, or restored (counted in an ArchiveResult
        whose inserts went to vicidial_list and whose deletes came from the archive)."""
        if not self._job.restoring:
            return await self._client.archive(
                lead_ids, insert=True, update=True, delete=self._job.delete
            )
        done = await self._client.restore(lead_ids)
        return ArchiveResult(
            select_count=done.select_count,
            insert_count=done.insert_count,
            delete_count=done.delete_count,
            kept_count=done.kept_count,
        )

    async def _drop_gone(self, pending: list[int], error: UnknownLeads) -> list[int]:
        """Account for leads no longer in the source table, and return the rest of the batch.

        They were moved by an earlier run or attempt (or by hand) if the target holds them;
        otherwise someone deleted them, and they are counted as not found.
        """
        gone = set(pending) & set(error.lead_ids)
        if not gone:
            raise InvalidLeads(f"server named unknown leads that were not sent: {error.message}")
        in_target = await _present(self._db, self._job.flow.target, sorted(gone))
        self.tally.already_archived += len(in_target)
        missing = sorted(gone - in_target)
        if missing:
            self.tally.not_found += len(missing)
            shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
            self.tally.problems.append(f"in neither vicidial_list nor the archive: {shown}")
        return [lead_id for lead_id in pending if lead_id not in gone]


# --- Replica lag and OPTIMIZE TABLE -------------------------------------------------------------


@dataclass
class ReplicaLag:
    """A replica's Seconds_Behind_Master, read with SHOW REPLICA STATUS (SHOW SLAVE STATUS on
    servers older than MariaDB 10.5.1 / MySQL 8.0.22), on a connection of its own."""

    db: Database
    _statement: str = ""

    @classmethod
    async def connect(cls, url: DatabaseUrl) -> ReplicaLag:
        """Connect and check that the server is a replica; JobError otherwise."""
        replica = cls(await Database.connect(url, pool_size=1))
        try:
            rows = await replica._status()
        except ArchiveError as error:
            await replica.close()
            raise JobError(f"--replica {url.masked()}: {error.message}") from None
        if not rows:
            await replica.close()
            raise JobError(
                f"--replica {url.masked()} is not a replica: SHOW REPLICA STATUS is empty"
            )
        return replica

    async def seconds_behind(self) -> float | None:
        """The largest lag of its replication channels; None when one replicates nothing."""
        lags = [row.get("Seconds_Behind_Master") for row in await self._status()]
        if not lags or any(lag is None for lag in lags):
            return None
        return float(max(int(str(lag)) for lag in lags))

    async def close(self) -> None:
        """Close the connection."""
        await self.db.close()

    async def _status(self) -> list[dict[str, Any]]:
        for statement in (self._statement,) if self._statement else sql.SHOW_REPLICA_STATUS:
            try:
                async with self.db.session() as session:
                    rows = await session.fetch_dicts(statement)
            except ArchiveError:
                if statement == sql.SHOW_REPLICA_STATUS[-1] or self._statement:
                    raise
                continue
            self._statement = statement
            return rows
        raise AssertionError("unreachable")


async def table_engine(db: Database, table: str) -> str:
    """The storage engine of a table (MyISAM, InnoDB …), or '' when it is missing."""
    async with db.session() as session:
        rows = await session.fetch_all(sql.TABLE_ENGINE, (table,))
    return str(rows[0][0]) if rows and rows[0][0] else ""


async def optimize_source(db: Database, table: str) -> list[str]:
    """Run OPTIMIZE TABLE and return what the server said, one line per message."""
    async with db.session() as session:
        rows = await session.fetch_all(sql.optimize_table(table))
    return [f"{row[0]}: {row[1]} {row[2]}: {row[3]}" for row in rows]
