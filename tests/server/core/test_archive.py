"""The archive phases against a real MariaDB, on MyISAM and InnoDB."""

from __future__ import annotations

import asyncio

import pytest
from lead_archive_server.core.archive import ArchiveBatch, ArchiveResult, archive_leads
from lead_archive_server.core.errors import (
    DeleteLeadsNotBoolean,
    DuplicateLeadIds,
    InsertLeadsNotBoolean,
    NoLeadIds,
    SchemaDrift,
    TooManyLeadIds,
    UnknownLeadIds,
    UpdateLeadsNotBoolean,
)

from tests.support import ARCHIVE, LEADS, TRAPS, TestDb, lead_row


@pytest.fixture
def tdb(shaped_tdb: TestDb) -> TestDb:
    """Both engines, in the spec's table shape and in the one Vicidial's installer gives."""
    return shaped_tdb


def batch(ids, insert=True, update=True, delete=True) -> ArchiveBatch:
    return ArchiveBatch.validated(insert=insert, update=update, delete=delete, lead_ids=ids)


# --- Field checks (no database) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        ((None, True, True), InsertLeadsNotBoolean),
        ((True, None, True), UpdateLeadsNotBoolean),
        ((True, True, None), DeleteLeadsNotBoolean),
        ((None, None, None), InsertLeadsNotBoolean),
    ],
)
def test_unset_flags_fail_in_documented_order(flags, error) -> None:
    insert, update, delete = flags
    with pytest.raises(error) as raised:
        ArchiveBatch.validated(insert=insert, update=update, delete=delete, lead_ids=[1, 1])
    assert raised.value.lead_ids == ()


def test_empty_lead_ids() -> None:
    with pytest.raises(NoLeadIds) as raised:
        batch([])
    assert raised.value.message == "lead_ids must contain atleast 1 value"


def test_more_than_500_lead_ids_before_duplicates() -> None:
    with pytest.raises(TooManyLeadIds) as raised:
        batch([7] * 501)
    assert (raised.value.message, raised.value.lead_errors) == (
        "lead_ids cannot exceed 500 values",
        0,
    )
    assert batch(list(range(1, 501))).lead_ids[-1] == 500


def test_duplicates_listed_once_in_first_seen_order() -> None:
    with pytest.raises(DuplicateLeadIds) as raised:
        batch([5, 3, 5, 9, 3, 3, 1])
    assert raised.value.lead_ids == (5, 3)
    assert raised.value.lead_errors == 2


# --- Existence -----------------------------------------------------------------------------


async def test_unknown_ids_listed_in_request_order_and_nothing_changes(tdb: TestDb) -> None:
    ids = await tdb.seed(3)
    before = await tdb.snapshot()
    request = [ids[0], -4, 2**63 - 1, ids[1], 0, 2**32, ids[2]]
    with pytest.raises(UnknownLeadIds) as raised:
        await archive_leads(tdb.db, batch(request))
    assert raised.value.lead_ids == (-4, 2**63 - 1, 0, 2**32)
    assert raised.value.message == "lead_ids does not exist"
    assert await tdb.snapshot() == before


# --- Phases and counts ---------------------------------------------------------------------


async def test_full_archive_moves_every_lead_byte_for_byte(tdb: TestDb) -> None:
    ids = await tdb.seed(5)
    original = await tdb.rows(LEADS)
    result = await archive_leads(tdb.db, batch(ids))
    assert result == ArchiveResult(5, 5, 0, 5, 0)
    assert await tdb.rows(LEADS) == {}
    assert await tdb.rows(ARCHIVE) == original


async def test_insert_only_copies_and_keeps_leads(tdb: TestDb) -> None:
    ids = await tdb.seed(3)
    result = await archive_leads(tdb.db, batch(ids, update=False, delete=False))
    assert result == ArchiveResult(3, 3, 0, 0, 0)
    assert await tdb.rows(ARCHIVE) == await tdb.rows(LEADS)


async def test_already_archived_leads_are_not_inserted_again_but_updated(tdb: TestDb) -> None:
    ids = await tdb.seed(4)
    await tdb.copy_to_archive(ids[:2])
    await tdb.execute(f"UPDATE {LEADS} SET status = 'SALE' WHERE lead_id = %s", [ids[0]])
    result = await archive_leads(tdb.db, batch(ids, delete=False))
    assert result == ArchiveResult(4, 2, 1, 0, 0)
    assert await tdb.rows(ARCHIVE) == await tdb.rows(LEADS)


async def test_update_touches_only_leads_archived_before_the_request(tdb: TestDb) -> None:
    ids = await tdb.seed(2)
    await tdb.copy_to_archive(ids[:1])
    await tdb.execute(f"UPDATE {LEADS} SET first_name = 'Jane'")
    result = await archive_leads(tdb.db, batch(ids, insert=False, delete=False))
    assert result == ArchiveResult(2, 0, 1, 0, 0)
    archive = await tdb.rows(ARCHIVE)
    assert list(archive) == ids[:1]
    assert archive[ids[0]] == (await tdb.rows(LEADS))[ids[0]]


async def test_update_without_change_counts_zero_and_keeps_modify_date(tdb: TestDb) -> None:
    ids = await tdb.seed(2)
    await tdb.copy_to_archive(ids)
    archived = await tdb.rows(ARCHIVE)
    result = await archive_leads(tdb.db, batch(ids, insert=False, delete=False))
    assert result.update_count == 0
    assert await tdb.rows(ARCHIVE) == archived


async def test_update_copies_modify_date_instead_of_bumping_it(tdb: TestDb) -> None:
    ids = await tdb.seed(1)
    await tdb.copy_to_archive(ids)
    await tdb.execute(
        f"UPDATE {LEADS} SET city = 'Shelbyville', modify_date = '2020-01-01 00:00:00'"
    )
    await archive_leads(tdb.db, batch(ids, insert=False, delete=False))
    assert (await tdb.rows(ARCHIVE)) == (await tdb.rows(LEADS))


async def test_delete_only_removes_leads_with_identical_archive_copy(tdb: TestDb) -> None:
    ids = await tdb.seed(3)
    await tdb.copy_to_archive(ids[:2])
    await tdb.execute(f"UPDATE {ARCHIVE} SET city = 'Elsewhere' WHERE lead_id = %s", [ids[1]])
    result = await archive_leads(tdb.db, batch(ids, insert=False, update=False))
    assert result == ArchiveResult(3, 0, 0, 1, 2)
    assert sorted(await tdb.rows(LEADS)) == ids[1:]


async def test_no_phase_enabled_changes_nothing(tdb: TestDb) -> None:
    ids = await tdb.seed(2)
    before = await tdb.snapshot()
    result = await archive_leads(tdb.db, batch(ids, False, False, False))
    assert result == ArchiveResult(2, 0, 0, 0, 0)
    assert await tdb.snapshot() == before


# --- The safe delete's traps (tests.support.TRAPS): collation-equal is not equal -----------


@pytest.mark.parametrize(("column", "in_list", "in_archive"), TRAPS)
async def test_delete_keeps_lead_when_archive_differs(
    tdb: TestDb, column: str, in_list, in_archive
) -> None:
    tdb.skip_unless_it_holds(in_list, in_archive)
    (lead_id,) = await tdb.insert_leads([lead_row(**{column: in_list})])
    await tdb.copy_to_archive([lead_id])
    await tdb.execute(
        f"UPDATE {ARCHIVE} SET `{column}` = %s, modify_date = modify_date", [in_archive]
    )
    before = await tdb.snapshot()
    result = await archive_leads(tdb.db, batch([lead_id], insert=True, update=False))
    assert (result.delete_count, result.kept_count) == (0, 1)
    assert await tdb.snapshot() == before


async def test_four_byte_unicode_survives_the_round_trip(tdb: TestDb) -> None:
    text = "Zoë 😀 𝄞 日本"
    tdb.skip_unless_it_holds(text)
    ids = await tdb.insert_leads([lead_row(first_name="Zoë", comments=text)])
    await archive_leads(tdb.db, batch(ids))
    rows = await tdb.fetch(f"SELECT comments, HEX(comments) FROM {ARCHIVE}")
    assert rows == [(text, text.encode().hex().upper())]


async def test_dialer_change_after_insert_keeps_the_lead(tdb: TestDb) -> None:
    """A lead changed between archive and delete stays: the compare sees the new data."""
    ids = await tdb.seed(2)
    await archive_leads(tdb.db, batch(ids, update=False, delete=False))
    await tdb.execute(f"UPDATE {LEADS} SET status = 'DNC' WHERE lead_id = %s", [ids[0]])
    result = await archive_leads(tdb.db, batch(ids, insert=False, update=False))
    assert (result.delete_count, result.kept_count) == (1, 1)
    assert list(await tdb.rows(LEADS)) == [ids[0]]


# --- Schema --------------------------------------------------------------------------------


async def test_archive_missing_a_column_is_refused_without_changes(tdb: TestDb) -> None:
    ids = await tdb.seed(2)
    await tdb.execute(f"ALTER TABLE {LEADS} ADD COLUMN extra_notes VARCHAR(20) DEFAULT 'x'")
    before = await tdb.snapshot()
    with pytest.raises(SchemaDrift) as raised:
        await archive_leads(tdb.db, batch(ids))
    assert "extra_notes" in raised.value.message
    assert await tdb.snapshot() == before


async def test_column_type_difference_is_refused(tdb: TestDb) -> None:
    ids = await tdb.seed(1)
    await tdb.execute(f"ALTER TABLE {ARCHIVE} MODIFY first_name VARCHAR(10)")
    with pytest.raises(SchemaDrift) as raised:
        await archive_leads(tdb.db, batch(ids))
    assert "first_name is varchar(30)" in raised.value.message


async def test_schema_fix_is_picked_up_without_restart(tdb: TestDb) -> None:
    ids = await tdb.seed(1)
    await tdb.execute(f"ALTER TABLE {LEADS} ADD COLUMN extra_notes VARCHAR(20)")
    with pytest.raises(SchemaDrift):
        await archive_leads(tdb.db, batch(ids))
    await tdb.execute(f"ALTER TABLE {ARCHIVE} ADD COLUMN extra_notes VARCHAR(20)")
    assert (await archive_leads(tdb.db, batch(ids))).delete_count == 1


async def test_columns_come_from_the_table_not_the_code(tdb: TestDb) -> None:
    """An older Vicidial without some columns archives just the same."""
    for table in (ARCHIVE, LEADS):
        await tdb.execute(f"ALTER TABLE {table} DROP COLUMN entry_list_id, DROP COLUMN `rank`")
    row = lead_row()
    del row["entry_list_id"], row["rank"]
    ids = await tdb.insert_leads([row])
    assert (await archive_leads(tdb.db, batch(ids))).delete_count == 1


# --- Concurrency ---------------------------------------------------------------------------


async def test_overlapping_concurrent_batches_never_fail_on_keys(tdb: TestDb) -> None:
    ids = await tdb.seed(60)
    original = await tdb.rows(LEADS)
    # Ten batches over the same leads, without delete, all at once.
    windows = [ids[i : i + 30] for i in range(0, 31, 3)]
    results = await asyncio.gather(
        *(archive_leads(tdb.db, batch(w, delete=False)) for w in windows)
    )
    assert sum(r.insert_count for r in results) == 60
    assert await tdb.rows(ARCHIVE) == original
    outcomes = await asyncio.gather(
        *(archive_leads(tdb.db, batch(w)) for w in windows), return_exceptions=True
    )
    # A batch that runs after another deleted some of its leads is told they no longer exist.
    assert all(isinstance(r, (ArchiveResult, UnknownLeadIds)) for r in outcomes), outcomes
    deleted = sum(r.delete_count for r in outcomes if isinstance(r, ArchiveResult))
    remaining = await tdb.rows(LEADS)
    assert deleted >= 30
    assert deleted + len(remaining) == 60
    assert all(original[lead_id] == row for lead_id, row in remaining.items())
    assert await tdb.rows(ARCHIVE) == original
