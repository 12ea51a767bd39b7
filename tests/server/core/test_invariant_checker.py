"""The invariant checker of the fault tests must itself catch every kind of loss."""

from __future__ import annotations

import pytest

from tests.invariant import Ledger, assert_all_archived, assert_no_lead_lost
from tests.support import ARCHIVE, LEADS, TestDb


async def test_holds_for_leads_in_place_archived_or_in_both(tdb: TestDb) -> None:
    ids = await tdb.seed(3)
    ledger = await Ledger.snapshot(tdb.db)
    await tdb.copy_to_archive(ids[:2])
    await tdb.execute(f"UPDATE {ARCHIVE} SET city = 'old' WHERE lead_id = %s", ids[1:2])
    await tdb.execute(f"DELETE FROM {LEADS} WHERE lead_id = %s", ids[:1])
    where = await assert_no_lead_lost(tdb.db, ledger)  # a stale copy of a listed lead is fine
    assert (where.archived_only, where.in_both) == ({ids[0]}, {ids[1]})
    with pytest.raises(AssertionError, match="still in vicidial_list"):
        await assert_all_archived(tdb.db, ledger)


@pytest.mark.parametrize(
    ("harm", "says"),
    [
        (
            [
                f"DELETE FROM {LEADS} WHERE lead_id = %s",
                f"DELETE FROM {ARCHIVE} WHERE lead_id = %s",
            ],
            "LOST, in neither table",
        ),
        (
            [f"UPDATE {LEADS} SET last_name = 'SMITH' WHERE lead_id = %s"],
            "changed in vicidial_list",
        ),
        (
            [
                f"DELETE FROM {LEADS} WHERE lead_id = %s",
                f"UPDATE {ARCHIVE} SET address2 = '' WHERE lead_id = %s",
            ],
            "archived as",
        ),
    ],
)
async def test_catches_a_lost_changed_or_stale_archived_lead(tdb: TestDb, harm, says) -> None:
    ids = await tdb.seed(2)
    ledger = await Ledger.snapshot(tdb.db)
    await tdb.copy_to_archive(ids)
    for statement in harm:
        await tdb.execute(statement, ids[:1])
    with pytest.raises(AssertionError, match=says):
        await assert_no_lead_lost(tdb.db, ledger)


async def test_catches_a_lead_nobody_knew(tdb: TestDb) -> None:
    ledger = await Ledger.snapshot(tdb.db)
    await tdb.seed(1)
    with pytest.raises(AssertionError, match="never known to the test"):
        await assert_no_lead_lost(tdb.db, ledger)
