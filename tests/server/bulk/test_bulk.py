"""Bulk archiving: option parsing, selection SQL on both engines, and the run against the real
server, interrupted in every way an operator can meet (Ctrl-C, office hours, errors)."""

from __future__ import annotations

import asyncio
import io
import itertools
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lead_archive_client import MAX_LEADS_PER_BATCH, ArchiveResult, AsyncLeadArchiveClient
from lead_archive_server.bulk.archiver import Archiver, StopReason, Tally, read_ahead
from lead_archive_server.bulk.console import explain, progress_bar, summary_table
from lead_archive_server.bulk.errors import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OFFICE_HOURS,
    EXIT_OK,
    JobError,
)
from lead_archive_server.bulk.job import Job, open_source
from lead_archive_server.bulk.selection import ListedLeads, Selection, survey
from lead_archive_server.bulk.values import parse_day, read_lead_ids, split_values
from lead_archive_server.core import sql
from lead_archive_server.core.errors import DatabaseUnavailable
from rich.console import Console

from tests.server.bulk.support_bulk import EVERY_LEAD, rendered, selected
from tests.support import ARCHIVE, LEADS, TestDb, wait_until
from tests.support_shim import MONDAY_MORNING, NIGHT
from tests.support_stack import batch_lock_held

RANGE = sql.LEAD_RANGE

# --- Options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2024-01-31", date(2024, 1, 31)),
        (" today ", date(2026, 3, 1)),
        ("Yesterday", date(2026, 2, 28)),
    ],
)
def test_days(text: str, day: date) -> None:
    assert parse_day(text, today=date(2026, 3, 1)) == day


@pytest.mark.parametrize("text", ["2024-02-30", "2024-1-1", "01/02/2024", "", "tomorrow"])
def test_bad_days(text: str) -> None:
    with pytest.raises(JobError, match="is not a date"):
        parse_day(text, today=date(2026, 3, 1))


def test_values_may_repeat_or_use_commas() -> None:
    assert split_values(["NEW,SALE", " NA ", "NEW", ",,"]) == ("NEW", "SALE", "NA")


def test_lead_id_files() -> None:
    listed = read_lead_ids(
        ["5\n", "3, 4 # the rest\n", "\n", "# all comment\n", "3 1\n"], source="f"
    )
    assert list(listed.lead_ids) == [1, 3, 4, 5]
    assert listed.repeats == 1


@pytest.mark.parametrize("bad", ["abc", "-1", "0", "1.5", str(2**32), "12x"])
def test_lead_id_files_name_the_bad_line(bad: str) -> None:
    with pytest.raises(JobError, match=rf"ids.txt, line 2: '{bad}' is not a lead ID"):
        read_lead_ids(["1\n", f"2 {bad}\n", "3\n"], source="ids.txt")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 501}, "--batch-size must be 1 to 500"),
        ({"batch_size": 0}, "--batch-size must be 1 to 500"),
        ({"concurrency": 0}, "--concurrency must be 1 to 32"),
        ({"lead_ids": [1], "selection": Selection(list_ids=(1,))}, "--ids-from selects"),
    ],
)
def test_jobs_that_make_no_sense(options: dict, message: str) -> None:
    with pytest.raises(JobError, match=message):
        Job(**options)


def test_selection_describes_itself() -> None:
    selection = Selection(
        list_ids=(1, 2), statuses=("NEW",), called_before=date(2024, 1, 1), campaigns=("C",)
    )
    assert selection.describe() == (
        "list 1 or 2, campaign C, status NEW, last called before 2024-01-01"
    )
    assert Selection().describe() == "every lead in vicidial_list"


def test_exit_codes_and_explanations() -> None:
    done = Tally(selected=10, result=ArchiveResult(10, 10, 0, 10, 0), finished=True)
    assert (done.exit_code(), done.left, explain(done)) == (EXIT_OK, 0, [])
    kept = Tally(selected=10, result=ArchiveResult(10, 10, 0, 9, 1), finished=True)
    assert kept.exit_code() == EXIT_INCOMPLETE
    assert "1 leads changed while being archived" in explain(kept)[0]
    hours = Tally(selected=10, result=ArchiveResult(4, 4, 0, 4), stop=StopReason.OFFICE_HOURS)
    assert (hours.exit_code(), hours.left) == (EXIT_OFFICE_HOURS, 6)
    assert explain(hours)[0].startswith("Office hours began: stopped between batches with 6")
    ctrl_c = Tally(selected=10, stop=StopReason.INTERRUPTED)
    assert ctrl_c.exit_code() == EXIT_INTERRUPTED
    failed = Tally(selected=10, errors=5, stop=StopReason.FAILED, problems=["boom"])
    assert failed.exit_code() == EXIT_INCOMPLETE
    assert explain(failed)[1] == "boom"


# --- Selection, as ADMIN_archive_leads.pl selects, on both engines -------------------------------


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (Selection(list_ids=(101,)), [1, 2]),
        (Selection(campaigns=("CAMPA",)), [1, 2, 3]),
        (Selection(campaigns=("CAMPA", "CAMPB"), statuses=("NEW",)), [1, 3, 4]),
        # Never called by Vicidial's loader (2008-01-01) is taken; a NULL (3) is never before.
        (Selection(called_before=date(2024, 1, 1)), [1, 4, 5, 7]),
        (Selection(entered_before=date(2024, 1, 1)), [1, 2, 4]),  # midnight is not before
        (Selection(campaigns=("CAMPA",), list_ids=(102, 201)), [3]),
        (Selection(list_ids=(101,), statuses=("sale",)), [2]),  # Vicidial's collation
        (Selection(list_ids=(101, 201), called_before=date(2024, 1, 1)), [1, 4]),
        (Selection(), [1, 2, 3, 4, 5, 7]),
        (Selection(statuses=("NOPE",)), []),
    ],
)
async def test_selection(selection_db: TestDb, selection: Selection, expected: list[int]) -> None:
    assert await selected(selection_db, selection) == expected


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (Selection(campaigns=("CAMPC",)), "campaign CAMPC has no lists in vicidial_lists"),
        (Selection(campaigns=("CAMPA",), list_ids=(201,)), "list 201 is not in campaign CAMPA"),
    ],
)
async def test_campaigns_without_lists(
    selection_db: TestDb, selection: Selection, message: str
) -> None:
    with pytest.raises(JobError, match=message):
        await selected(selection_db, selection)


async def test_pages_are_read_ahead_in_order_and_a_read_error_comes_where_its_page_was_due() -> (
    None
):
    read: list[int] = []

    async def pages():
        for number in range(1, 7):
            read.append(number)
            yield [number]
        raise DatabaseUnavailable()

    ahead = read_ahead(pages(), depth=2)
    assert await anext(ahead) == [1]
    await wait_until(lambda: len(read) >= 4, 5, "the reader to fill its queue")
    # Not a wait but ten turns of the loop, in which an unbounded reader would go on: the
    # test is that this one does not (it has read two pages ahead and one waiting for room).
    for _ in range(10):
        await asyncio.sleep(0)
    assert read == [1, 2, 3, 4]  # two pages queued, a third read and waiting for room
    assert [await anext(ahead) for _ in range(5)] == [[2], [3], [4], [5], [6]]
    with pytest.raises(DatabaseUnavailable):
        await anext(ahead)


async def test_read_ahead_stops_reading_when_the_run_stops() -> None:
    closed = asyncio.Event()

    async def endless():
        try:
            number = 0
            while True:
                number += 1
                yield [number]
        finally:
            closed.set()

    ahead = read_ahead(endless(), depth=2)
    assert await anext(ahead) == [1]
    await ahead.aclose()
    assert closed.is_set()


@given(
    ids=st.sets(st.integers(min_value=1, max_value=5 * RANGE), min_size=1, max_size=1500),
    page_size=st.sampled_from([1, 7, 100, 499, 500]),
)
def test_listed_pages_cover_every_id_once_and_only_single_range_pages_meet(
    ids: set[int], page_size: int
) -> None:
    pages = asyncio.run(_all_pages(ListedLeads(sorted(ids), page_size)))
    assert [lead_id for page in pages for lead_id in page] == sorted(ids)
    assert all(0 < len(page) <= page_size for page in pages)
    for page, after in itertools.pairwise(pages):
        shared = set(sql.lead_ranges(page)) & set(sql.lead_ranges(after))
        # Pages meet in a range only when one of them cannot be cut (it lies in that range).
        assert not shared or len(sql.lead_ranges(page)) == 1, (page, after)


async def _all_pages(source: ListedLeads) -> list[list[int]]:
    return [page async for page in source.pages()]


async def test_consecutive_pages_meet_at_a_range_edge_not_inside_a_range(tdb: TestDb) -> None:
    # Dense IDs from 1: a 500-lead page would hold 1..500, and lead 500 opens the next range.
    ids = await tdb.seed_many(1600, first_id=1)
    source = await open_source(tdb.db, Job(selection=Selection(list_ids=(1001,))))
    pages = await _all_pages(source)  # type: ignore[arg-type]
    assert [(page[0], page[-1]) for page in pages] == [
        (1, RANGE - 1),
        (RANGE, 2 * RANGE - 1),
        (2 * RANGE, 3 * RANGE - 1),
        (3 * RANGE, 1600),
    ]
    assert [lead_id for page in pages for lead_id in page] == ids
    listed = await _all_pages(ListedLeads(ids, MAX_LEADS_PER_BATCH))
    assert listed == pages


async def test_pages_follow_lead_id_even_when_earlier_leads_are_deleted(
    selection_db: TestDb,
) -> None:
    source = await open_source(selection_db.db, Job(selection=Selection(), batch_size=2))
    pages = []
    async for page in source.pages():
        pages.append(page)
        await selection_db.execute(f"DELETE FROM {LEADS} WHERE lead_id = %s", [page[0]])
    assert pages == [[1, 2], [3, 4], [5, 7]]


async def test_dry_run_classifies_without_changing_anything(tdb: TestDb) -> None:
    ids = await tdb.seed_many(7)
    await tdb.copy_to_archive(ids[:3])
    await tdb.execute(f"UPDATE {ARCHIVE} SET first_name = 'JOHN' WHERE lead_id = %s", [ids[0]])
    await tdb.execute(f"DELETE FROM {LEADS} WHERE lead_id = %s", [ids[2]])
    before = await tdb.snapshot()
    listed = await open_source(tdb.db, Job(lead_ids=[*ids, 999], batch_size=3))
    found = await survey(tdb.db, listed)
    assert (found.selected, found.not_archived, found.archived_same, found.archived_different) == (
        8,
        4,
        1,
        1,
    )
    assert (found.already_archived, found.not_found, found.drift) == (1, 1, None)
    assert await tdb.snapshot() == before


async def test_dry_run_reports_drift(tdb: TestDb) -> None:
    await tdb.seed_many(2)
    await tdb.execute(f"ALTER TABLE {LEADS} ADD COLUMN extra_notes VARCHAR(20)")
    source = await open_source(tdb.db, Job(selection=Selection(list_ids=(1001,))))
    found = await survey(tdb.db, source)
    assert found.drift is not None and "extra_notes" in found.drift


# --- The run, against the real server ------------------------------------------------------------


async def run(rig, job: Job, watch=lambda archiver, tally: None) -> tuple[Tally, Archiver]:
    stack, client = rig
    archiver = Archiver(client, stack.tdb.db, job, watch=lambda tally: watch(archiver, tally))
    tally = await archiver.run(await open_source(stack.tdb.db, job))
    return tally, archiver


async def assert_moved(tdb: TestDb, original: dict, ids: list[int]) -> None:
    """Every lead of ids is in the archive, exactly as it was, and gone from vicidial_list."""
    assert await tdb.rows(ARCHIVE, ids) == {i: original[i] for i in ids}
    assert await tdb.rows(LEADS, ids) == {}


async def test_run_archives_everything_selected(rig) -> None:
    stack, _ = rig
    ids = await stack.tdb.seed_many(1050)
    await stack.tdb.seed_many(20, first_id=5000, list_id=2002)  # not selected
    original = await stack.tdb.rows(LEADS)
    tally, _ = await run(rig, EVERY_LEAD)
    assert tally.result == ArchiveResult(1050, 1050, 0, 1050, 0)
    assert (tally.batches, tally.finished, tally.left, tally.exit_code()) == (11, True, 0, 0)
    await assert_moved(stack.tdb, original, ids)
    assert await stack.tdb.count(LEADS) == 20


async def test_ctrl_c_lets_batches_in_flight_finish_and_a_rerun_ends_the_job(rig) -> None:
    stack, _ = rig
    ids = await stack.tdb.seed_many(1050)
    original = await stack.tdb.rows(LEADS)

    def ctrl_c_after_first(archiver: Archiver, tally: Tally) -> None:
        if tally.batches == 1:
            archiver.interrupt()

    first, _ = await run(rig, EVERY_LEAD, ctrl_c_after_first)
    # Three batches were in flight (concurrency 3); they finished and no fourth started.
    assert (first.batches, first.result.delete_count, first.left) == (3, 300, 750)
    assert (first.stop, first.exit_code()) == (StopReason.INTERRUPTED, EXIT_INTERRUPTED)
    assert await stack.tdb.count(LEADS) == 750

    second, _ = await run(rig, EVERY_LEAD)
    assert second.result == ArchiveResult(750, 750, 0, 750, 0)  # nothing redone
    assert second.exit_code() == EXIT_OK
    await assert_moved(stack.tdb, original, ids)


async def test_office_hours_stop_the_run_between_batches(rig) -> None:
    stack, _ = rig
    ids = await stack.tdb.seed_many(1050)
    original = await stack.tdb.rows(LEADS)
    job = Job(selection=Selection(list_ids=(1001,)), batch_size=100, concurrency=1)

    def office_opens_after_two(archiver: Archiver, tally: Tally) -> None:
        if tally.batches == 2:
            stack.clock.now = MONDAY_MORNING

    first, _ = await run(rig, job, office_opens_after_two)
    assert (first.stop, first.exit_code()) == (StopReason.OFFICE_HOURS, EXIT_OFFICE_HOURS)
    assert (first.batches, first.result.delete_count, first.left, first.errors) == (3, 200, 850, 0)
    assert await stack.tdb.count(LEADS) == 850

    stack.clock.now = NIGHT
    second, _ = await run(rig, job)
    assert second.result == ArchiveResult(850, 850, 0, 850, 0)
    await assert_moved(stack.tdb, original, ids)


async def test_second_ctrl_c_abandons_batches_in_flight_safely(rig) -> None:
    stack, _ = rig
    ids = await stack.tdb.seed_many(300)
    original = await stack.tdb.rows(LEADS)
    job = Job(selection=Selection(list_ids=(1001,)), batch_size=100, concurrency=2)
    async with batch_lock_held(stack.tdb):  # both batches wait on the server
        archiver = Archiver(rig[1], stack.tdb.db, job)
        running = asyncio.create_task(archiver.run(await open_source(stack.tdb.db, job)))
        await wait_until(lambda: archiver.in_flight >= 2, 30, "two batches in flight")
        archiver.interrupt()
        archiver.abandon()
        tally = await running
    assert (tally.abandoned, tally.stop, tally.exit_code()) == (200, StopReason.INTERRUPTED, 130)
    assert (tally.result, tally.left) == (ArchiveResult(), 100)
    assert "abandoned in flight" in rendered(summary_table(tally, job, 1.0))
    rerun, _ = await run(rig, job)
    assert rerun.exit_code() == EXIT_OK
    await assert_moved(stack.tdb, original, ids)


async def test_listed_ids_already_archived_or_unknown_are_accounted_for(rig) -> None:
    stack, _ = rig
    ids = await stack.tdb.seed_many(6)
    original = await stack.tdb.rows(LEADS)
    await stack.tdb.copy_to_archive(ids[:2])
    await stack.tdb.execute(f"DELETE FROM {LEADS} WHERE lead_id IN (%s, %s)", ids[:2])
    job = Job(lead_ids=[*ids, 777, 778], batch_size=3)
    tally, _ = await run(rig, job)
    assert tally.result == ArchiveResult(4, 4, 0, 4, 0)
    assert (tally.already_archived, tally.not_found, tally.errors) == (2, 2, 0)
    assert tally.problems == ["in neither vicidial_list nor the archive: 777, 778"]
    assert tally.exit_code() == EXIT_INCOMPLETE  # two listed leads could not be archived
    await assert_moved(stack.tdb, original, ids)


async def test_server_error_stops_the_run(rig) -> None:
    stack, _ = rig
    await stack.tdb.seed_many(500)
    await stack.tdb.execute(f"ALTER TABLE {ARCHIVE} DROP COLUMN comments")
    before = await stack.tdb.snapshot()
    tally, _ = await run(rig, Job(selection=Selection(list_ids=(1001,)), batch_size=100))
    assert tally.stop is StopReason.FAILED
    assert tally.errors == 100 * tally.batches and tally.batches <= 4  # no new batch started
    assert "comments" in tally.problems[0]
    assert tally.exit_code() == EXIT_INCOMPLETE
    assert await stack.tdb.snapshot() == before


async def test_refused_key_stops_the_run(rig) -> None:
    stack, _ = rig
    await stack.tdb.seed_many(300)
    before = await stack.tdb.snapshot()
    async with AsyncLeadArchiveClient(stack.grpc_target, "not-the-key-0123456789") as client:
        job = Job(selection=Selection(list_ids=(1001,)), batch_size=100, concurrency=1)
        tally = await Archiver(client, stack.tdb.db, job).run(await open_source(stack.tdb.db, job))
    assert (tally.stop, tally.batches, tally.errors) == (StopReason.UNAUTHENTICATED, 1, 0)
    assert tally.problems == ["unable to validate api user"]
    assert await stack.tdb.snapshot() == before


async def test_no_delete_copies_only(rig) -> None:
    stack, _ = rig
    ids = await stack.tdb.seed_many(250)
    original = await stack.tdb.rows(LEADS)
    job = Job(selection=Selection(list_ids=(1001,)), batch_size=100, delete=False)
    tally, _ = await run(rig, job)
    assert tally.result == ArchiveResult(250, 250, 0, 0, 0)
    assert tally.exit_code() == EXIT_OK
    assert await stack.tdb.rows(ARCHIVE) == original == await stack.tdb.rows(LEADS)
    again, _ = await run(rig, Job(selection=Selection(list_ids=(1001,)), batch_size=100))
    assert again.result == ArchiveResult(250, 0, 0, 250, 0)  # nothing copied twice
    await assert_moved(stack.tdb, original, ids)


async def test_database_lost_between_pages_stops_with_a_summary(rig) -> None:
    stack, client = rig
    await stack.tdb.seed_many(300)
    job = Job(selection=Selection(list_ids=(1001,)), batch_size=100, concurrency=1)
    source = await open_source(stack.tdb.db, job)

    class LosesTheDatabase:
        total = source.total

        async def pages(self):
            pages = source.pages()
            yield await anext(pages)
            raise DatabaseUnavailable()

    tally = await Archiver(client, stack.tdb.db, job).run(LosesTheDatabase())
    assert (tally.stop, tally.result.delete_count, tally.left) == (StopReason.FAILED, 100, 200)
    assert tally.problems == ["reading the database: database unavailable; retry the batch"]


def test_progress_shows_leads_kept_in_use_once_there_are_some() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    with progress_bar(console, "archiving", 100) as advance:
        advance(40, 0)
        console.file.flush()
        before = out.getvalue()
        advance(60, 3)
    assert "kept in use" not in before
    assert "3 kept in use" in out.getvalue()


def test_leads_kept_in_use_make_the_run_incomplete_and_are_explained() -> None:
    tally = Tally(selected=10, finished=True, result=ArchiveResult(10, 10, 0, 8, 0, 2))
    assert tally.leads_left == 2 and not tally.complete
    assert tally.exit_code() == EXIT_INCOMPLETE
    assert explain(tally)[0].startswith("2 leads stayed in vicidial_list because Vicidial's dialer")
