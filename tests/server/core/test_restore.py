"""The way back (CONTRACT 8): restore batches against a real MariaDB, on MyISAM and InnoDB."""

from __future__ import annotations

import asyncio
import random

import pytest
from lead_archive_server.core.archive import ArchiveBatch, archive_leads
from lead_archive_server.core.errors import (
    DuplicateLeadIds,
    NoLeadIds,
    SchemaDrift,
    TooManyLeadIds,
    UnknownLeadIds,
)
from lead_archive_server.core.restore import RestoreBatch, RestoreResult, restore_leads

from tests.invariant import Ledger, assert_no_lead_lost
from tests.support import ARCHIVE, LEADS, VARIED_NAMES, TestDb, exact_rows, lead_row, wait_until


@pytest.fixture
def tdb(shaped_tdb: TestDb) -> TestDb:
    """Both engines, in the spec's table shape and in the one Vicidial's installer gives."""
    return shaped_tdb


def restore_batch(ids: list[int]) -> RestoreBatch:
    return RestoreBatch.validated(ids)


def archive_batch(ids: list[int]) -> ArchiveBatch:
    return ArchiveBatch.validated(insert=True, update=True, delete=True, lead_ids=ids)


# --- Field checks (no database) ------------------------------------------------------------


def test_lead_ids_checks_in_the_archive_order() -> None:
    with pytest.raises(NoLeadIds):
        RestoreBatch.validated([])
    with pytest.raises(TooManyLeadIds):
        RestoreBatch.validated([1, 1, *range(2, 501)])  # 501 values: the limit outranks repeats
    with pytest.raises(DuplicateLeadIds) as raised:
        RestoreBatch.validated([3, 1, 3, 2, 1, 3])
    assert raised.value.lead_ids == (3, 1)


async def test_ids_not_in_the_archive_do_not_exist_even_when_live(tdb: TestDb) -> None:
    live = await tdb.seed(2)  # in vicidial_list only
    archived = await tdb.seed(1)
    await archive_leads(tdb.db, archive_batch(archived))
    before = await tdb.snapshot()
    with pytest.raises(UnknownLeadIds) as raised:
        await restore_leads(tdb.db, restore_batch([live[1], archived[0], 99999, live[0]]))
    assert raised.value.lead_ids == (live[1], 99999, live[0])
    assert raised.value.message == "lead_ids does not exist"
    assert await tdb.snapshot() == before


# --- The round trip --------------------------------------------------------------------------


async def database_clock(tdb: TestDb) -> int:
    """The database server's clock, in whole seconds."""
    return int((await tdb.fetch("SELECT UNIX_TIMESTAMP()"))[0][0])


async def a_second_later(tdb: TestDb, then: int) -> bool:
    return await database_clock(tdb) > then


async def test_archive_then_restore_gives_back_identical_bytes(tdb: TestDb) -> None:
    rows = [
        lead_row(first_name=name, modify_date=f"2023-0{1 + n % 8}-0{1 + n % 9} 0{n % 10}:15:59")
        for n, name in enumerate(VARIED_NAMES * 3)
    ]
    rows += [lead_row(comments="Zoë 😀 𝄞", address3=None, last_local_call_time=None)]
    ids = await tdb.insert_leads(rows)
    before = await exact_rows(tdb, LEADS)

    archived = await archive_leads(tdb.db, archive_batch(ids))
    archived_at = await database_clock(tdb)
    assert archived.delete_count == len(ids)
    # A modify_date bumped from here on would differ by a second at least.
    await wait_until(lambda: a_second_later(tdb, archived_at), 5, "the database's clock to move on")
    restored = await restore_leads(tdb.db, restore_batch(ids))

    assert restored == RestoreResult(len(ids), len(ids), len(ids), 0)
    assert await exact_rows(tdb, LEADS) == before
    assert await tdb.count(ARCHIVE) == 0


async def test_a_lead_live_with_other_data_stays_in_both_untouched(tdb: TestDb) -> None:
    ids = await tdb.seed(3)
    await tdb.copy_to_archive(ids)
    # ids[0]: archived only; ids[1]: live again with other data; ids[2]: identical in both.
    await tdb.execute(f"DELETE FROM {LEADS} WHERE lead_id = %s", [ids[0]])
    await tdb.execute(f"UPDATE {LEADS} SET first_name = 'john' WHERE lead_id = %s", [ids[1]])
    other = (await tdb.rows(LEADS, [ids[1]]), await tdb.rows(ARCHIVE, [ids[1]]))

    result = await restore_leads(tdb.db, restore_batch(ids))

    assert result == RestoreResult(select_count=3, insert_count=1, delete_count=2, kept_count=1)
    assert (await tdb.rows(LEADS, [ids[1]]), await tdb.rows(ARCHIVE, [ids[1]])) == other
    assert sorted(await tdb.rows(LEADS)) == ids
    assert list(await tdb.rows(ARCHIVE)) == [ids[1]]


@pytest.mark.parametrize(
    ("column", "live", "archived"),
    [("first_name", "John", "john"), ("last_name", "Smith ", "Smith"), ("address3", "", None)],
)
async def test_a_difference_only_bytes_see_keeps_the_archived_copy(
    tdb: TestDb, column: str, live: object, archived: object
) -> None:
    (lead_id,) = await tdb.insert_leads([lead_row(**{column: live})])
    await tdb.copy_to_archive([lead_id])
    await tdb.execute(f"UPDATE {ARCHIVE} SET `{column}` = %s", [archived])
    before = await tdb.snapshot()
    result = await restore_leads(tdb.db, restore_batch([lead_id]))
    assert (result.insert_count, result.delete_count, result.kept_count) == (0, 0, 1)
    assert await tdb.snapshot() == before


async def test_restore_is_refused_when_vicidial_list_lacks_an_archive_column(
    tdb: TestDb,
) -> None:
    ids = await tdb.seed(2)
    await archive_leads(tdb.db, archive_batch(ids))
    await tdb.execute(f"ALTER TABLE {ARCHIVE} ADD COLUMN archived_note VARCHAR(20) DEFAULT 'x'")
    before = await tdb.snapshot()
    with pytest.raises(SchemaDrift) as raised:
        await restore_leads(tdb.db, restore_batch(ids))
    assert raised.value.message == (
        "column archived_note of vicidial_list_archive is missing from vicidial_list"
    )
    assert await tdb.snapshot() == before


async def test_archive_rows_come_back_into_an_empty_auto_increment_table(tdb: TestDb) -> None:
    """Explicit lead_ids go in as they are; the next new lead is numbered after them."""
    ids = await tdb.seed(2)
    await archive_leads(tdb.db, archive_batch(ids))
    await tdb.execute(f"TRUNCATE TABLE {LEADS}")
    await restore_leads(tdb.db, restore_batch(ids))
    (new,) = await tdb.seed(1)
    assert new > max(ids)


# --- Concurrency ---------------------------------------------------------------------------


async def test_concurrent_archive_and_restore_of_the_same_leads_never_fail_on_keys(
    tdb: TestDb,
) -> None:
    ids = await tdb.seed(60)
    ledger = await Ledger.snapshot(tdb.db)
    await tdb.copy_to_archive(ids)  # in both tables: either direction may start
    windows = [ids[i : i + 30] for i in range(0, 31, 10)]
    shuffle = random.Random(12)
    for _ in range(6):
        calls = [archive_leads(tdb.db, archive_batch(w)) for w in windows]
        calls += [restore_leads(tdb.db, restore_batch(w)) for w in windows]
        shuffle.shuffle(calls)
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        # A batch that runs after the other direction moved its leads is told they are gone.
        unexpected = [o for o in outcomes if isinstance(o, BaseException)]
        assert all(isinstance(o, UnknownLeadIds) for o in unexpected), unexpected
        await assert_no_lead_lost(tdb.db, ledger)
    # Finally everything comes back, identical to how it started.
    for window in windows:
        live = set(await tdb.rows(LEADS, window))
        in_archive = [i for i in window if i not in live]
        if in_archive:
            await restore_leads(tdb.db, restore_batch(in_archive))
    assert await tdb.rows(LEADS) == ledger.last


async def test_lead_zero_comes_back_as_itself_not_as_a_new_lead(tdb: TestDb) -> None:
    """AUTO_INCREMENT would number an inserted 0 afresh: a copy under a new lead_id, and the
    archived row left behind. The service's sessions keep a 0 a 0 (NO_AUTO_VALUE_ON_ZERO)."""
    await tdb.insert_leads([lead_row(lead_id=7)], table=ARCHIVE)
    await tdb.execute(f"UPDATE {ARCHIVE} SET lead_id = 0 WHERE lead_id = 7")
    archived = await exact_rows(tdb, ARCHIVE)
    result = await restore_leads(tdb.db, restore_batch([0]))
    assert (result.insert_count, result.delete_count) == (1, 1)
    assert await exact_rows(tdb, LEADS) == archived
    assert await tdb.count(ARCHIVE) == 0
