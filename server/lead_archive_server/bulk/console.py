"""What the operator sees during `lead-archive archive` and `restore`: progress, summary.

The summary table goes to stdout; the progress bar and every message go to stderr. With
``--quiet`` (for cron) a run that did all it was asked prints nothing at all; any other run
prints its summary and what went wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lead_archive_client import Unavailable
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

from lead_archive_server.bulk.archiver import StopReason, Tally
from lead_archive_server.bulk.job import Job
from lead_archive_server.bulk.selection import Survey
from lead_archive_server.runtime.settings import env_name


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
        lines.append(f"The API refused the key: check --api-key or {env_name('api_key')}.")
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
