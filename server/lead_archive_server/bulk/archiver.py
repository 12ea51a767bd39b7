"""Send a source's pages through the API, several batches in flight, and keep the tally.

Each page is one batch of at most 500 leads. A batch that is cut short (Ctrl-C, office hours,
a lost connection) is safe to send again: leads that were moved are no longer in the source;
leads copied but not deleted are already in the target, so the API inserts nothing for them
and deletes them once their copy is identical. Nothing is copied twice and nothing is
deleted without its copy.

Pacing, as pt-archiver and ADMIN_archive_leads.pl offer it: a sleep between batches and a
pause while a replica lags too far behind (``replica.ReplicaLag``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from lead_archive_client import (
    ArchiveResult,
    InvalidLeads,
    LeadArchiveError,
    OfficeHours,
    RestoreResult,
    Unauthenticated,
    UnknownLeads,
)

from lead_archive_server.bulk.errors import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OFFICE_HOURS,
    EXIT_OK,
)
from lead_archive_server.bulk.job import Job
from lead_archive_server.bulk.selection import LeadSource, present
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import ArchiveError

READ_AHEAD_PAGES = 2  # selection pages read while batches run
# How often a lagging replica is asked again (pt-archiver's --check-interval is 1 s).
LAG_POLL_S = 1.0


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
        in_target = await present(self._db, self._job.flow.target, sorted(gone))
        self.tally.already_archived += len(in_target)
        missing = sorted(gone - in_target)
        if missing:
            self.tally.not_found += len(missing)
            shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
            self.tally.problems.append(f"in neither vicidial_list nor the archive: {shown}")
        return [lead_id for lead_id in pending if lead_id not in gone]
