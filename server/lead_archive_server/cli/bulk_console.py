"""What the operator sees and does during `lead-archive archive` and `lead-archive restore`:
progress, Ctrl-C, summary.

The summary table goes to stdout; the progress bar and every message go to stderr. With
``--quiet`` (for cron) a run that did all it was asked prints nothing at all; any other run
prints its summary and what went wrong.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from lead_archive_client import (
    AsyncLeadArchiveClient,
    LeadArchiveError,
    OfficeHours,
    RetryPolicy,
    Unauthenticated,
    Unavailable,
)
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from lead_archive_server.cli.bulk import (
    EXIT_INCOMPLETE,
    EXIT_OFFICE_HOURS,
    EXIT_OK,
    EXIT_USAGE,
    Archiver,
    Job,
    JobError,
    LagSource,
    LeadSource,
    Pacing,
    ReplicaLag,
    StopReason,
    Survey,
    Tally,
    open_source,
    optimize_source,
    survey,
    table_engine,
)
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import ArchiveError
from lead_archive_server.runtime.settings import Settings


@dataclass(frozen=True)
class Connection:
    """How `archive` reaches the API."""

    target: str
    api_key: str
    tls: bool | grpc.ChannelCredentials = False
    tls_server_name: str | None = None
    timeout: float = 60.0
    retry_for: float = 120.0

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise JobError("--timeout must be more than 0 seconds")
        if not self.retry_for >= 0:
            raise JobError("--retry-for must be 0 seconds or more")

    @classmethod
    def from_options(
        cls,
        settings: Settings,
        *,
        target: str | None,
        api_key: str | None,
        tls: bool,
        ca_cert: Path | None,
        timeout: float,
        retry_for: float,
    ) -> Connection:
        """Options first, then settings; TLS as `serve`'s own shim uses it for the local port.

        With no --target and no LEAD_ARCHIVE_TARGET, the command calls this machine's gRPC
        port, over TLS when the settings give that port a certificate, trusting
        LEAD_ARCHIVE_UPSTREAM_CA, else that certificate and the system's CAs.
        """
        credentials: bool | grpc.ChannelCredentials = tls
        if ca_cert is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=_read(ca_cert))
        elif not tls and target is None and not settings.target and settings.grpc_tls:
            # Imported here: it brings the REST shim (FastAPI), ~0.4 s of start-up that a run
            # without TLS does not need.
            from lead_archive_server.cli.upstream_tls import local_upstream_tls

            roots = local_upstream_tls(settings, settings.grpc_tls[0]).root_certificates
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
        return cls(
            target=target or settings.archive_target,
            api_key=api_key or settings.api_key.get_secret_value(),
            tls=credentials,
            tls_server_name=settings.upstream_server_name or None,
            timeout=timeout,
            retry_for=retry_for,
        )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise JobError(f"--ca-cert {path}: {error.strerror or error}") from None


@dataclass(frozen=True)
class Screens:
    """Where output goes: the summary to ``out``, progress and messages to ``err``.

    ``quiet`` (--quiet, for cron): no progress bar and no chatter; ``note`` prints only
    without it, ``say`` always (errors, and why a run is not complete).
    """

    out: Console
    err: Console
    quiet: bool = False

    def say(self, message: str) -> None:
        """One message for the operator, printed as it is (no markup)."""
        self.err.print(message, markup=False, highlight=False, soft_wrap=True)

    def note(self, message: str) -> None:
        """A message that --quiet leaves out."""
        if not self.quiet:
            self.say(message)


@dataclass(frozen=True)
class Replica:
    """--replica URL and --max-replica-lag SECONDS."""

    url: DatabaseUrl
    max_lag_s: float


async def run_archive(
    job: Job,
    settings: Settings,
    connection: Connection,
    screens: Screens,
    *,
    replica: Replica | None = None,
    lag_source: LagSource | None = None,
) -> int:
    """Run the command (archive, or restore when job.restoring) and return its exit code.

    ``lag_source`` replaces the connection to ``replica`` (tests pass a fake).
    """
    if not job.dry_run and not connection.api_key:
        screens.say("lead-archive: no API key: give --api-key or set LEAD_ARCHIVE_API_KEY")
        return EXIT_USAGE
    db = await Database.connect(settings.database, pool_size=3)
    lag: ReplicaLag | None = None
    try:
        try:
            source = await open_source(db, job)
            if replica is not None and lag_source is None and not job.dry_run:
                lag = await ReplicaLag.connect(replica.url)
        except JobError as error:
            screens.say(f"lead-archive: {error}")
            return EXIT_USAGE
        screens.note(f"Selected {source.total} leads: {job.describe()}.")
        if job.dry_run:
            return await _dry_run(db, source, job, screens)
        if source.total == 0:
            screens.note(f"Nothing to {_verb(job)}.")
            return await _optimized(db, job, screens, EXIT_OK)
        pacing = Pacing(
            sleep_s=job.sleep_s,
            replica=lag_source or lag,
            max_lag_s=replica.max_lag_s if replica else 0.0,
        )
        return await _archive(db, source, job, connection, screens, pacing)
    finally:
        if lag is not None:
            await lag.close()
        await db.close()


def _verb(job: Job) -> str:
    return "restore" if job.restoring else "archive"


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


async def _archive(
    db: Database,
    source: LeadSource,
    job: Job,
    connection: Connection,
    screens: Screens,
    pacing: Pacing,
) -> int:
    status = RetryStatus()
    retry = RetryPolicy(deadline=connection.retry_for, on_retry=status.retrying)
    async with AsyncLeadArchiveClient(
        connection.target,
        connection.api_key,
        tls=connection.tls,
        timeout=connection.timeout,
        retry=retry,
        tls_server_name=connection.tls_server_name,
    ) as client:
        refused = await _refused(client, screens, key_only=job.restoring)
        if refused is not None:
            return refused
        started = time.monotonic()
        label = "restoring" if job.restoring else "archiving"
        with progress_bar(screens.err, label, source.total, status, quiet=screens.quiet) as advance:
            archiver = Archiver(
                client,
                db,
                job,
                watch=lambda tally: advance(tally.handled, tally.result.in_use_count),
                pacing=pacing,
                say=screens.note,
            )
            with _ctrl_c(archiver, screens):
                tally = await archiver.run(source)
    code = tally.exit_code()
    if not screens.quiet or code != EXIT_OK:
        screens.out.print(summary_table(tally, job, time.monotonic() - started))
    for line in explain(tally, job):
        screens.say(line)
    if tally.stop is not None:
        return code  # never OPTIMIZE (a table lock on MyISAM) after office hours began
    return await _optimized(db, job, screens, code)


async def _refused(
    client: AsyncLeadArchiveClient, screens: Screens, *, key_only: bool = False
) -> int | None:
    """Check the key and (unless key_only) the office hours before reading a single page;
    None when allowed."""
    try:
        await client.check_access(key_only=key_only)
    except Unauthenticated as error:
        screens.say(
            f"lead-archive: the API refused the key ({error.message}): "
            "check --api-key, --api-key-file or LEAD_ARCHIVE_API_KEY. Nothing was done."
        )
        return EXIT_INCOMPLETE
    except OfficeHours as error:
        screens.say(f"lead-archive: {error.message}. Nothing was done; run it after office hours.")
        return EXIT_OFFICE_HOURS
    except LeadArchiveError as error:
        verb = "restore" if key_only else "archive"
        screens.say(f"lead-archive: cannot {verb}: {error.message}. Nothing was done.")
        return EXIT_INCOMPLETE
    return None


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


# --- Progress and tables ---------------------------------------------------------------------


class LeadsPerSecond(ProgressColumn):
    """Speed in leads per second."""

    def render(self, task: Task) -> Text:
        """Render the task's speed."""
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} leads/s", style="progress.data.speed")


class RetryStatus:
    """What the progress line says while the client retries an unreachable server.

    The client's RetryPolicy calls ``retrying``; the next batch that gets through clears it.
    """

    def __init__(self) -> None:
        self.text = ""
        self.retries = 0
        self.changed: Callable[[], None] = lambda: None

    def retrying(self, error: Unavailable, pause_s: float) -> None:
        """A call failed transiently and is tried again in pause_s seconds."""
        self.retries += 1
        reason = error.message if len(error.message) <= 48 else error.message[:47] + "…"
        self.text = f"retrying in {pause_s:.1f} s (#{self.retries}): {reason}"
        self.changed()

    def clear(self) -> None:
        """A batch got through."""
        self.text = ""


class KeptInUse(ProgressColumn):
    """How many leads the dialer guard kept so far; blank while there are none."""

    def render(self, task: Task) -> Text:
        """Render the task's in-use count."""
        in_use = int(task.fields.get("in_use", 0))
        return Text(f"{in_use:,} kept in use" if in_use else "", style="progress.data.speed")


@contextmanager
def progress_bar(
    console: Console,
    label: str,
    total: int,
    status: RetryStatus | None = None,
    *,
    quiet: bool = False,
) -> Iterator[Callable[[int, int], None]]:
    """A progress bar (leads done, leads/s, ETA, leads kept in use by the dialer, and any
    retry under way); yields a function taking the leads done and the leads kept in use.

    With quiet, nothing is drawn."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("leads"),
        LeadsPerSecond(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        KeptInUse(),
        TextColumn("{task.fields[retry]}", style="yellow"),
    )
    with Progress(*columns, console=console, disable=quiet) as progress:
        task = progress.add_task(label, total=total, retry="", in_use=0)

        def show_retry() -> None:
            progress.update(task, retry=status.text if status else "")

        if status is not None:
            status.changed = show_retry

        def advance(done: int, in_use: int = 0) -> None:
            if status is not None:
                status.clear()
            progress.update(task, completed=done, total=max(total, done), retry="", in_use=in_use)

        yield advance


def summary_table(tally: Tally, job: Job, seconds: float) -> Table:
    """The final counts of a run."""
    result = tally.result
    speed = tally.handled / seconds if seconds > 0 else 0.0
    caption = f"{seconds:.1f} s, {speed:,.0f} leads/s"
    if job.restoring:
        rows = [
            ("selected", tally.selected),
            ("inserted into vicidial_list", result.insert_count),
            ("deleted from the archive", result.delete_count),
            ("kept: live with other data", result.kept_count),
            ("already restored", tally.already_archived),
        ]
    else:
        rows = [
            ("selected", tally.selected),
            ("inserted", result.insert_count),
            ("updated", result.update_count),
            ("deleted", result.delete_count),
            ("kept because data differed", result.kept_count),
            ("kept in use by the dialer", result.in_use_count),
            ("already archived", tally.already_archived),
        ]
    rows += [("not found", tally.not_found), ("errors", tally.errors)]
    if tally.abandoned:
        rows.append(("abandoned in flight", tally.abandoned))
    rows.append(("left for a rerun", tally.left))
    if not job.delete:
        caption += "; copied only (--no-delete)"
    if tally.waited_s:
        caption += f"; {tally.waited_s:.0f} s paused for the replica"
    return _table("Restore summary" if job.restoring else "Archive summary", rows, caption)


def survey_table(found: Survey, job: Job | None = None) -> Table:
    """What a dry run found."""
    if job is not None and job.restoring:
        rows = [
            ("selected", found.selected),
            ("not in vicidial_list (insert, delete)", found.not_archived),
            ("in vicidial_list, identical (delete)", found.archived_same),
            ("in vicidial_list, data differs (kept in both)", found.archived_different),
            ("already restored, not in the archive", found.already_archived),
            ("not found", found.not_found),
        ]
        return _table("Dry run: nothing was changed", rows)
    rows = [
        ("selected", found.selected),
        ("not archived yet (insert, delete)", found.not_archived),
        ("archived, data differs (update, delete)", found.archived_different),
        ("archived, identical (delete)", found.archived_same),
        ("already archived, not in vicidial_list", found.already_archived),
        ("not found", found.not_found),
    ]
    return _table("Dry run: nothing was changed", rows)


def _table(title: str, rows: list[tuple[str, int]], caption: str | None = None) -> Table:
    table = Table(title=title, caption=caption, show_header=False)
    table.add_column("what")
    table.add_column("leads", justify="right")
    for name, count in rows:
        table.add_row(name, str(count))
    return table


def explain(tally: Tally, job: Job | None = None) -> list[str]:
    """Say why a run is not complete and what to do, one line each."""
    lines: list[str] = []
    rerun = "Run the same command again to finish; nothing is redone or lost."
    if tally.stop is StopReason.OFFICE_HOURS:
        lines.append(
            f"Office hours began: stopped between batches with {tally.left} leads left. "
            "Run the same command again after office hours to finish."
        )
    elif tally.stop is StopReason.INTERRUPTED:
        lines.append(f"Interrupted: {tally.left} leads left. {rerun}")
    elif tally.stop is StopReason.UNAUTHENTICATED:
        lines.append("The API refused the key: check --api-key or LEAD_ARCHIVE_API_KEY.")
    elif tally.stop is StopReason.FAILED:
        lines.append(f"Stopped after a server error. Fix it, then: {rerun}")
    lines += tally.problems
    if tally.result.kept_count and job is not None and job.restoring:
        lines.append(
            f"{tally.result.kept_count} leads are live in vicidial_list with other data: both "
            "rows were left untouched ('lead-archive verify' lists them)."
        )
    elif tally.result.kept_count:
        lines.append(
            f"{tally.result.kept_count} leads changed while being archived and stayed in "
            f"vicidial_list (their copy is updated on the next run). {rerun}"
        )
    if tally.result.in_use_count:
        lines.append(
            f"{tally.result.in_use_count} leads stayed in vicidial_list because Vicidial's "
            "dialer was using them (a call, an agent's screen, the hopper, a due callback). "
            f"{rerun}"
        )
    return lines
