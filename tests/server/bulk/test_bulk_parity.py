"""The bulk commands at parity with ADMIN_archive_leads.pl and pt-archiver, and the way back:
`---ALL---`, restore runs, --sleep, --max-replica-lag (with a fake lag source here; see
test_replica_lag.py for a real replica), --optimize and --quiet, on both engines."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from lead_archive_client import ArchiveResult
from lead_archive_server.bulk.archiver import Archiver, Pacing, StopReason, Tally
from lead_archive_server.bulk.console import Screens, survey_table
from lead_archive_server.bulk.errors import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    JobError,
)
from lead_archive_server.bulk.job import Job, open_source
from lead_archive_server.bulk.options import BulkOptions, Connection, Replica
from lead_archive_server.bulk.run import run as run_bulk
from lead_archive_server.bulk.selection import Selection, survey
from lead_archive_server.core import sql
from lead_archive_server.runtime.settings import Settings
from rich.console import Console

from tests.server.bulk.support_bulk import EVERY_LEAD, rendered, selected
from tests.support import ARCHIVE, LEADS, TestDb, exact_rows, lead_row, wait_until

RESTORE_LIST = Job(
    selection=Selection(list_ids=(1001,)), batch_size=100, concurrency=3, flow=sql.RESTORING
)


async def run(rig, job: Job, *, pacing: Pacing | None = None, watch=None, said=None):
    stack, client = rig
    archiver = Archiver(
        client,
        stack.tdb.db,
        job,
        watch=(lambda tally: watch(archiver, tally)) if watch else (lambda tally: None),
        pacing=pacing,
        say=(said.append if said is not None else lambda message: None),
    )
    tally = await archiver.run(await open_source(stack.tdb.db, job))
    return tally, archiver


# --- --campaign ---ALL--- -------------------------------------------------------------------


async def test_all_campaigns_takes_the_leads_of_every_list_in_vicidial_lists(
    selection_db: TestDb,
) -> None:
    await selection_db.insert_leads([lead_row(lead_id=6, list_id=999)])  # a list Vicidial lacks
    # Lists 101, 102 (CAMPA, active Y and N) and 201 (CAMPB); 301 is neither Y nor N.
    assert await selected(selection_db, Selection(campaigns=("---ALL---",))) == [1, 2, 3, 4]
    both = Selection(campaigns=("---ALL---",), statuses=("NEW",))
    assert await selected(selection_db, both) == [1, 3, 4]
    assert Selection(campaigns=("---ALL---",)).describe() == "every list in vicidial_lists"
    with pytest.raises(JobError, match="---ALL--- takes every list"):
        Job(selection=Selection(campaigns=("---ALL---", "CAMPA")))


# --- Restore runs ----------------------------------------------------------------------------


async def test_a_list_archived_by_a_run_comes_back_byte_for_byte(rig) -> None:
    stack, _ = rig
    tdb = stack.tdb
    ids = await tdb.seed_many(1050)
    await tdb.seed_many(20, first_id=5000, list_id=2002)
    before = await exact_rows(tdb, LEADS)
    archived, _ = await run(rig, EVERY_LEAD)
    assert archived.exit_code() == EXIT_OK

    # The selection is read from the archive: list 1001 there.
    source = await open_source(tdb.db, RESTORE_LIST)
    assert source.total == 1050
    found = await survey(tdb.db, source, flow=sql.RESTORING)
    assert (found.not_archived, found.archived_same, found.archived_different) == (1050, 0, 0)
    assert "not in vicidial_list (insert, delete)" in rendered(survey_table(found, RESTORE_LIST))

    restored, _ = await run(rig, RESTORE_LIST)
    assert restored.result == ArchiveResult(1050, 1050, 0, 1050, 0)
    assert (restored.exit_code(), restored.batches) == (EXIT_OK, 11)
    assert await exact_rows(tdb, LEADS) == before
    assert await tdb.count(ARCHIVE) == 0
    assert len(ids) == 1050


async def test_restore_ctrl_c_then_rerun_and_leads_live_with_other_data(rig) -> None:
    stack, _ = rig
    tdb = stack.tdb
    ids = await tdb.seed_many(1050)
    original = await tdb.rows(LEADS)
    await run(rig, EVERY_LEAD)
    # One lead is live again with other data (as an agent's new lead with the same ID).
    await tdb.execute(f"INSERT INTO {LEADS} SELECT * FROM {ARCHIVE} WHERE lead_id = %s", [ids[7]])
    await tdb.execute(f"UPDATE {LEADS} SET status = 'XFER' WHERE lead_id = %s", [ids[7]])
    live = await tdb.rows(LEADS, [ids[7]])

    def ctrl_c_after_first(archiver: Archiver, tally: Tally) -> None:
        if tally.batches == 1:
            archiver.interrupt()

    first, _ = await run(rig, RESTORE_LIST, watch=ctrl_c_after_first)
    assert (first.stop, first.exit_code(), first.batches) == (
        StopReason.INTERRUPTED,
        EXIT_INTERRUPTED,
        3,
    )
    second, _ = await run(rig, RESTORE_LIST)
    # Nothing restored twice; the live lead is kept in both tables and makes the run exit 1.
    assert first.result.insert_count + second.result.insert_count == 1049
    assert second.result.kept_count == 1 and second.exit_code() == EXIT_INCOMPLETE
    assert await tdb.rows(LEADS, [ids[7]]) == live
    assert list(await tdb.rows(ARCHIVE)) == [ids[7]]
    rest = [i for i in ids if i != ids[7]]
    assert await tdb.rows(LEADS, rest) == {i: original[i] for i in rest}


# --- --sleep --------------------------------------------------------------------------------


async def test_sleep_between_batches_and_ctrl_c_cuts_it_short(rig) -> None:
    stack, _ = rig
    await stack.tdb.seed_many(400)
    paced = Job(selection=Selection(list_ids=(1001,)), batch_size=100, concurrency=1, sleep_s=0.4)
    started = time.monotonic()
    tally, _ = await run(rig, paced)
    assert tally.result.delete_count == 400
    assert time.monotonic() - started >= 3 * 0.4  # three sleeps between four batches

    await run(rig, RESTORE_LIST)  # bring them back
    long_sleep = Job(
        selection=Selection(list_ids=(1001,)), batch_size=100, concurrency=1, sleep_s=600
    )

    def ctrl_c(archiver: Archiver, tally: Tally) -> None:
        asyncio.get_running_loop().call_later(0.2, archiver.interrupt)

    started = time.monotonic()
    stopped, _ = await run(rig, long_sleep, watch=ctrl_c)
    assert time.monotonic() - started < 10  # not 600 s
    assert (stopped.batches, stopped.stop) == (1, StopReason.INTERRUPTED)


def test_sleep_must_be_sensible() -> None:
    with pytest.raises(JobError, match="--sleep must be 0 to 3600 seconds"):
        Job(sleep_s=-1)


# --- --max-replica-lag (a fake lag source) ---------------------------------------------------


@dataclass
class ScriptedLag:
    """Seconds_Behind_Master as a replica might report it, one value per question."""

    values: Iterator[float | None]
    asked: list[float | None] = field(default_factory=list)

    async def seconds_behind(self) -> float | None:
        value = next(self.values, 0.0)
        self.asked.append(value)
        return value


async def test_a_lagging_replica_pauses_the_run_until_it_catches_up(rig) -> None:
    stack, _ = rig
    await stack.tdb.seed_many(300)
    job = Job(selection=Selection(list_ids=(1001,)), batch_size=100, concurrency=1)
    lag = ScriptedLag(iter([0.0, 30.0, 12.0, None, 4.0, 0.0]))
    said: list[str] = []
    archived_while_paused: list[int] = []

    async def watch_count() -> None:
        await wait_until(lambda: len(lag.asked) >= 4, 30, "the fourth look at the replica")
        archived_while_paused.append(await stack.tdb.count(ARCHIVE))

    watcher = asyncio.create_task(watch_count())
    pacing = Pacing(replica=lag, max_lag_s=5, poll_s=0.1)
    tally, _ = await run(rig, job, pacing=pacing, said=said)
    await watcher

    assert tally.result.delete_count == 300 and tally.exit_code() == EXIT_OK
    # Asked before each batch; while 30, 12 and "not running" the second batch waited.
    assert lag.asked == [0.0, 30.0, 12.0, None, 4.0, 0.0]
    assert archived_while_paused == [100]
    assert said == [
        "Replica 30 s behind (more than --max-replica-lag 5 s): pausing.",
        "Replica caught up: resuming.",
    ]
    assert tally.waited_s >= 0.3


async def test_ctrl_c_while_paused_for_the_replica_stops_the_run(rig) -> None:
    stack, _ = rig
    await stack.tdb.seed_many(200)
    job = Job(selection=Selection(list_ids=(1001,)), batch_size=100, concurrency=1)
    forever = ScriptedLag(iter([None] * 10_000))
    said: list[str] = []
    pacing = Pacing(replica=forever, max_lag_s=5, poll_s=0.05)

    _, client = rig

    def ctrl_c_once_paused(line: str) -> None:
        said.append(line)
        asyncio.get_running_loop().call_later(0.1, archiver.interrupt)  # a few polls later

    archiver = Archiver(client, stack.tdb.db, job, pacing=pacing, say=ctrl_c_once_paused)
    tally = await archiver.run(await open_source(stack.tdb.db, job))
    assert (tally.batches, tally.stop, tally.left) == (0, StopReason.INTERRUPTED, 200)
    assert said == [
        "Replica replication is not running (more than --max-replica-lag 5 s): pausing."
    ]
    assert await stack.tdb.count(ARCHIVE) == 0


# --- --optimize and --quiet, through the command's own run ----------------------------------


def screens(*, quiet: bool = False) -> tuple[Screens, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    made = Screens(Console(file=out, width=120), Console(file=err, width=120), quiet=quiet)
    return made, out, err


async def command(rig, job: Job, *, quiet: bool = False) -> tuple[int, str, str]:
    stack, _ = rig
    settings = Settings(database_url=stack.tdb.db.url.url())
    connection = Connection(target=stack.grpc_target, api_key=stack.key, retry_for=5)
    made, out, err = screens(quiet=quiet)
    code = await run_bulk(BulkOptions(job, connection), settings, made)
    return code, out.getvalue(), err.getvalue()


async def test_optimize_runs_at_the_end_and_warns_on_myisam(rig) -> None:
    stack, _ = rig
    await stack.tdb.seed_many(250)
    job = Job(selection=Selection(list_ids=(1001,)), batch_size=100, optimize=True)
    code, out, err = await command(rig, job)
    assert code == EXIT_OK, err
    assert "Archive summary" in out
    myisam_warning = "OPTIMIZE TABLE vicidial_list locks the table on MyISAM"
    assert (myisam_warning in err) == (stack.tdb.engine == "MyISAM")
    assert "vicidial_list: optimize status: OK" in err.replace(f"{stack.tdb.db.url.database}.", "")

    restore = Job(
        selection=Selection(list_ids=(1001,)), flow=sql.RESTORING, optimize=True, dry_run=True
    )
    code, out, err = await command(rig, restore)
    assert code == EXIT_OK
    assert "would restore 250 leads" in err and "OPTIMIZE TABLE vicidial_list_archive" in err


async def test_quiet_prints_nothing_when_all_went_well_and_everything_when_not(
    rig,
) -> None:
    stack, _ = rig
    ids = await stack.tdb.seed_many(150)
    job = Job(selection=Selection(list_ids=(1001,)), batch_size=100)
    assert await command(rig, job, quiet=True) == (EXIT_OK, "", "")

    # Restore with one lead live with other data: not complete, so it speaks up.
    await stack.tdb.execute(
        f"INSERT INTO {LEADS} SELECT * FROM {ARCHIVE} WHERE lead_id = %s", [ids[0]]
    )
    await stack.tdb.execute(f"UPDATE {LEADS} SET status = 'B' WHERE lead_id = %s", [ids[0]])
    code, out, err = await command(rig, RESTORE_LIST, quiet=True)
    assert code == EXIT_INCOMPLETE
    assert "Restore summary" in out and "kept: live with other data" in out
    assert "1 leads are live in vicidial_list with other data" in err
    assert "restoring" not in err  # no progress bar


async def test_a_replica_that_is_not_one_is_refused_before_anything_is_sent(rig) -> None:
    stack, _ = rig
    await stack.tdb.seed_many(10)
    settings = Settings(database_url=stack.tdb.db.url.url())
    connection = Connection(target=stack.grpc_target, api_key=stack.key)
    made, _, err = screens()
    replica = Replica(stack.tdb.db.url, 5)  # the primary itself: no replication status
    code = await run_bulk(BulkOptions(EVERY_LEAD, connection, replica), settings, made)
    assert code == EXIT_USAGE
    assert "is not a replica: SHOW REPLICA STATUS is empty" in err.getvalue()
    assert await stack.tdb.count(ARCHIVE) == 0
