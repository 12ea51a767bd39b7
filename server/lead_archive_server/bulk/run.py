"""The one operation of `lead-archive archive` and `restore`: open what the run needs, survey
or send the selected leads, OPTIMIZE TABLE at the end when asked, and return the exit code.

The database, the replica and the API client are opened here and nowhere else.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass

from lead_archive_client import (
    AsyncLeadArchiveClient,
    LeadArchiveError,
    OfficeHours,
    RetryPolicy,
    ScopeMissing,
    Unauthenticated,
)
from lead_archive_client.vocabulary import Scope

from lead_archive_server.bulk.archiver import Archiver, Pacing, Tally
from lead_archive_server.bulk.console import (
    RetryStatus,
    Screens,
    explain,
    progress_bar,
    summary_table,
    survey_table,
)
from lead_archive_server.bulk.errors import (
    EXIT_INCOMPLETE,
    EXIT_OFFICE_HOURS,
    EXIT_OK,
    EXIT_USAGE,
    JobError,
)
from lead_archive_server.bulk.job import Job, open_source
from lead_archive_server.bulk.options import BulkOptions
from lead_archive_server.bulk.replica import ReplicaLag
from lead_archive_server.bulk.selection import LeadSource, survey
from lead_archive_server.core import sql
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import ArchiveError
from lead_archive_server.runtime.settings import Settings, env_name


@dataclass(frozen=True)
class Opened:
    """What a run works with: the database, and for a real run the pacing and the client."""

    db: Database
    pacing: Pacing
    client: AsyncLeadArchiveClient | None  # None for a dry run, which sends nothing


async def run(options: BulkOptions, settings: Settings, screens: Screens) -> int:
    """Run `archive` (or `restore`, as options.job.flow says); return the exit code."""
    job = options.job
    if options.repeated_ids:
        screens.say(f"{options.repeated_ids} repeated lead IDs are taken once.")
    status = RetryStatus()
    try:
        async with opened(options, settings, status) as resources:
            source = await open_source(resources.db, job)
            screens.note(f"Selected {source.total} leads: {job.describe()}.")
            if resources.client is None:
                return await _dry_run(resources.db, source, job, screens)
            if source.total == 0:
                screens.note(f"Nothing to {job.verb}.")
                return await _optimized(resources.db, job, screens, EXIT_OK)
            refused = await _refused(resources.client, screens, job)
            if refused is not None:
                return refused
            client = resources.client
            tally = await _archive(client, resources, source, job, screens, status)
            if tally.stop is not None:
                return tally.exit_code()  # never OPTIMIZE (a table lock on MyISAM) after it
            return await _optimized(resources.db, job, screens, tally.exit_code())
    except JobError as error:
        screens.say(f"lead-archive: {error}")
        return EXIT_USAGE


@asynccontextmanager
async def opened(
    options: BulkOptions, settings: Settings, status: RetryStatus
) -> AsyncIterator[Opened]:
    """Open the database, then (unless a dry run) the replica and the client; close them all."""
    async with AsyncExitStack() as stack:
        db = await Database.connect(settings.database, pool_size=3)
        stack.push_async_callback(db.close)
        if options.job.dry_run:
            yield Opened(db, Pacing(), None)
            return
        pacing = Pacing(sleep_s=options.job.sleep_s)
        if options.replica is not None:
            lag = await ReplicaLag.connect(options.replica.url)
            stack.push_async_callback(lag.close)
            pacing = Pacing(options.job.sleep_s, lag, options.replica.max_lag_s)
        connection = options.connection
        client = AsyncLeadArchiveClient(
            connection.target,
            connection.api_key,
            tls=connection.tls,
            timeout=connection.timeout,
            retry=RetryPolicy(deadline=connection.retry_for, on_retry=status.retrying),
            tls_server_name=connection.tls_server_name,
        )
        yield Opened(db, pacing, await stack.enter_async_context(client))


async def _refused(client: AsyncLeadArchiveClient, screens: Screens, job: Job) -> int | None:
    """Check the key, its scope and (archiving) the office hours before reading a single page;
    None when allowed."""
    scope = Scope.RESTORE if job.restoring else Scope.ARCHIVE
    try:
        await client.check_access(key_only=job.restoring, scope=scope)
    except ScopeMissing:
        screens.say(
            f"lead-archive: the key may not {job.verb}: it lacks the {scope} scope "
            f"(lead-archive keys create --user NAME --scope {scope}). Nothing was done."
        )
        return EXIT_INCOMPLETE
    except Unauthenticated as error:
        screens.say(
            f"lead-archive: the API refused the key ({error.message}): "
            f"check --api-key, --api-key-file or {env_name('api_key')}. Nothing was done."
        )
        return EXIT_INCOMPLETE
    except OfficeHours as error:
        screens.say(f"lead-archive: {error.message}. Nothing was done; run it after office hours.")
        return EXIT_OFFICE_HOURS
    except LeadArchiveError as error:
        screens.say(f"lead-archive: cannot {job.verb}: {error.message}. Nothing was done.")
        return EXIT_INCOMPLETE
    return None


async def _archive(
    client: AsyncLeadArchiveClient,
    resources: Opened,
    source: LeadSource,
    job: Job,
    screens: Screens,
    status: RetryStatus,
) -> Tally:
    """Send every page, showing progress; print the summary and what went wrong."""
    started = time.monotonic()
    label = "restoring" if job.restoring else "archiving"
    with progress_bar(screens.err, label, source.total, status, quiet=screens.quiet) as advance:
        archiver = Archiver(
            client,
            resources.db,
            job,
            watch=lambda tally: advance(tally.handled, tally.result.in_use_count),
            pacing=resources.pacing,
            say=screens.note,
        )
        with _ctrl_c(archiver, screens):
            tally = await archiver.run(source)
    if not screens.quiet or tally.exit_code() != EXIT_OK:
        screens.out.print(summary_table(tally, job, time.monotonic() - started))
    for line in explain(tally, job):
        screens.say(line)
    return tally


async def _dry_run(db: Database, source: LeadSource, job: Job, screens: Screens) -> int:
    with progress_bar(screens.err, "reading", source.total, quiet=screens.quiet) as advance:
        found = await survey(db, source, watch=lambda done: advance(done, 0), flow=job.flow)
    screens.out.print(survey_table(found, job))
    if found.drift:
        screens.say(f"The API would refuse every batch: {found.drift}")
        return EXIT_INCOMPLETE
    if job.restoring:
        moving = found.not_archived + found.archived_same
        screens.say(f"Dry run: nothing was changed. A real run would restore {moving} leads.")
    else:
        moving = found.not_archived + found.archived_same + found.archived_different
        verb = "archive" if job.delete else "copy"
        screens.say(f"Dry run: nothing was changed. A real run would {verb} {moving} leads.")
    if job.optimize:
        screens.say(f"It would then run OPTIMIZE TABLE {job.flow.source}.")
    return EXIT_OK


# --- OPTIMIZE TABLE ----------------------------------------------------------------------------


async def _optimized(db: Database, job: Job, screens: Screens, code: int) -> int:
    """With --optimize, OPTIMIZE TABLE the source table once the run went through."""
    if not job.optimize:
        return code
    table = job.flow.source
    try:
        if await table_engine(db, table) == "MyISAM":
            screens.say(
                f"Warning: OPTIMIZE TABLE {table} locks the table on MyISAM until it ends; "
                "the dialer waits meanwhile."
            )
        screens.note(f"Optimizing {table} …")
        for line in await optimize_source(db, table):
            screens.note(line)
    except ArchiveError as error:
        screens.say(f"lead-archive: OPTIMIZE TABLE {table} failed: {error.message}")
        return EXIT_INCOMPLETE
    return code


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


# --- Ctrl-C ----------------------------------------------------------------------------------


@contextmanager
def _ctrl_c(archiver: Archiver, screens: Screens) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM): finish the batches in flight, start none; second: abandon."""
    loop = asyncio.get_running_loop()
    presses = 0

    def on_signal() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            screens.say(
                f"Stopping: finishing {archiver.in_flight} batches in flight, starting none. "
                "Ctrl-C again to abandon them."
            )
            archiver.interrupt()
        else:
            archiver.abandon()

    signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
    try:
        for sig in signals:
            loop.add_signal_handler(sig, on_signal)
    except (RuntimeError, ValueError):  # not the main thread: no handlers, default behaviour
        signals = ()
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
