"""What the operator sees and does during `lead-archive archive`: progress, Ctrl-C, summary.

The summary table goes to stdout; the progress bar and every message go to stderr.
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
    LeadSource,
    StopReason,
    Survey,
    Tally,
    open_source,
    survey,
)
from lead_archive_server.core.db import Database
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
    """Where output goes: the summary to ``out``, progress and messages to ``err``."""

    out: Console
    err: Console

    def say(self, message: str) -> None:
        """One message for the operator, printed as it is (no markup)."""
        self.err.print(message, markup=False, highlight=False, soft_wrap=True)


async def run_archive(
    job: Job, settings: Settings, connection: Connection, screens: Screens
) -> int:
    """Run the command and return its exit code."""
    if not job.dry_run and not connection.api_key:
        screens.say("lead-archive: no API key: give --api-key or set LEAD_ARCHIVE_API_KEY")
        return EXIT_USAGE
    db = await Database.connect(settings.database, pool_size=3)
    try:
        try:
            source = await open_source(db, job)
        except JobError as error:
            screens.say(f"lead-archive: {error}")
            return EXIT_USAGE
        screens.say(f"Selected {source.total} leads: {job.describe()}.")
        if job.dry_run:
            return await _dry_run(db, source, job, screens)
        if source.total == 0:
            screens.say("Nothing to archive.")
            return EXIT_OK
        return await _archive(db, source, job, connection, screens)
    finally:
        await db.close()


async def _archive(
    db: Database, source: LeadSource, job: Job, connection: Connection, screens: Screens
) -> int:
    retry = RetryPolicy(deadline=connection.retry_for)
    async with AsyncLeadArchiveClient(
        connection.target,
        connection.api_key,
        tls=connection.tls,
        timeout=connection.timeout,
        retry=retry,
        tls_server_name=connection.tls_server_name,
    ) as client:
        refused = await _refused(client, screens)
        if refused is not None:
            return refused
        started = time.monotonic()
        with progress_bar(screens.err, "archiving", source.total) as advance:
            archiver = Archiver(client, db, job, watch=lambda tally: advance(tally.handled))
            with _ctrl_c(archiver, screens):
                tally = await archiver.run(source)
    screens.out.print(summary_table(tally, job, time.monotonic() - started))
    for line in explain(tally):
        screens.say(line)
    return tally.exit_code()


async def _refused(client: AsyncLeadArchiveClient, screens: Screens) -> int | None:
    """Check the key and the office hours before reading a single page; None when allowed."""
    try:
        await client.check_access()
    except Unauthenticated as error:
        screens.say(
            f"lead-archive: the API refused the key ({error.message}): "
            "check --api-key or LEAD_ARCHIVE_API_KEY. Nothing was done."
        )
        return EXIT_INCOMPLETE
    except OfficeHours as error:
        screens.say(f"lead-archive: {error.message}. Nothing was done; run it after office hours.")
        return EXIT_OFFICE_HOURS
    except LeadArchiveError as error:
        screens.say(f"lead-archive: cannot archive: {error.message}. Nothing was done.")
        return EXIT_INCOMPLETE
    return None


async def _dry_run(db: Database, source: LeadSource, job: Job, screens: Screens) -> int:
    with progress_bar(screens.err, "reading", source.total) as advance:
        found = await survey(db, source, watch=advance)
    screens.out.print(survey_table(found))
    if found.drift:
        screens.say(f"The API would refuse every batch: {found.drift}")
        return EXIT_INCOMPLETE
    moving = found.not_archived + found.archived_same + found.archived_different
    verb = "archive" if job.delete else "copy"
    screens.say(f"Dry run: nothing was changed. A real run would {verb} {moving} leads.")
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


@contextmanager
def progress_bar(console: Console, label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar (leads done, leads/s, ETA); yields a function taking the leads done."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("leads"),
        LeadsPerSecond(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(label, total=total)

        def advance(done: int) -> None:
            progress.update(task, completed=done, total=max(total, done))

        yield advance


def summary_table(tally: Tally, job: Job, seconds: float) -> Table:
    """The final counts of a run."""
    result = tally.result
    speed = tally.handled / seconds if seconds > 0 else 0.0
    caption = f"{seconds:.1f} s, {speed:,.0f} leads/s"
    rows = [
        ("selected", tally.selected),
        ("inserted", result.insert_count),
        ("updated", result.update_count),
        ("deleted", result.delete_count),
        ("kept because data differed", result.kept_count),
        ("already archived", tally.already_archived),
        ("not found", tally.not_found),
        ("errors", tally.errors),
    ]
    if tally.abandoned:
        rows.append(("abandoned in flight", tally.abandoned))
    rows.append(("left for a rerun", tally.left))
    if not job.delete:
        caption += "; copied only (--no-delete)"
    return _table("Archive summary", rows, caption)


def survey_table(found: Survey) -> Table:
    """What a dry run found."""
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


def explain(tally: Tally) -> list[str]:
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
    if tally.result.kept_count:
        lines.append(
            f"{tally.result.kept_count} leads changed while being archived and stayed in "
            f"vicidial_list (their copy is updated on the next run). {rerun}"
        )
    return lines
