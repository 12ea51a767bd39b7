"""Schema drift: refused by name over REST and gRPC, fixed without a restart, never a partial
row, and never a column list from before an ALTER (mid-batch or between batches). The ALTERs
"mid-batch" run the moment the batch's first round trip reaches the wire proxy, before it
goes on to the server (tests/faults/wire.py)."""

from __future__ import annotations

import grpc
import pytest

from tests.faults.support_service import Service
from tests.faults.wire import LOCK, Rule, run_before
from tests.invariant import Ledger, assert_all_archived, table_rows
from tests.support import ARCHIVE, LEADS
from tests.support_shim import full_request

MISSING = "column extra_notes of vicidial_list is missing from vicidial_list_archive"


def refused(message: str) -> dict:
    return {"message": message, "lead_errors": 0, "lead_ids": []}


async def test_missing_column_is_named_over_rest_and_grpc_then_fixed_live(
    service: Service,
) -> None:
    tdb = service.tdb
    ids = await tdb.seed(3)
    await tdb.execute(f"ALTER TABLE {LEADS} ADD COLUMN extra_notes VARCHAR(20) DEFAULT 'kept'")
    before = await tdb.snapshot()

    response = await service.post(full_request(ids))
    assert (response.status_code, response.json()) == (500, refused(MISSING))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await service.grpc_archive(ids)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.details() == MISSING
    assert await tdb.snapshot() == before

    await tdb.execute(f"ALTER TABLE {ARCHIVE} ADD COLUMN extra_notes VARCHAR(20)")
    ledger = await Ledger.snapshot(tdb.db)
    response = await service.post(full_request(ids))  # same server, same pool: no restart
    assert response.status_code == 200, response.text
    await assert_all_archived(tdb.db, ledger)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        pytest.param(
            f"ALTER TABLE {ARCHIVE} MODIFY first_name VARCHAR(10)",
            "column first_name is varchar(30) utf8mb4 in vicidial_list "
            "but varchar(10) utf8mb4 in vicidial_list_archive",
            id="narrower",
        ),
        pytest.param(
            f"ALTER TABLE {ARCHIVE} MODIFY comments VARCHAR(255) CHARACTER SET utf8mb3",
            "column comments is varchar(255) utf8mb4 in vicidial_list "
            "but varchar(255) utf8mb3 in vicidial_list_archive",
            id="charset",
        ),
        pytest.param(
            f"ALTER TABLE {ARCHIVE} MODIFY called_count INT UNSIGNED",
            "column called_count is smallint(5) unsigned in vicidial_list "
            "but int(10) unsigned in vicidial_list_archive",
            id="wider",
        ),
    ],
)
async def test_type_difference_is_refused_and_writes_nothing(
    service: Service, change: str, says: str
) -> None:
    tdb = service.tdb
    # One lead archived already (with data the altered column still holds), three not yet.
    ids = await tdb.seed(1, comments="plain") + await tdb.seed(3, comments="𝄞 clef")
    await tdb.copy_to_archive(ids[:1])
    await tdb.execute(f"UPDATE {LEADS} SET status = 'SALE' WHERE lead_id = %s", ids[:1])
    await tdb.execute(change)
    before = await tdb.snapshot()
    response = await service.post(full_request(ids))
    assert (response.status_code, response.json()) == (500, refused(says))
    assert await tdb.snapshot() == before  # no row inserted, updated or deleted


def alter_before_the_batch(service: Service, statements: list[str]) -> Rule:
    """Run ALTERs from another connection the moment the batch's first round trip (lock,
    begin, membership, definitions) reaches the proxy, then let it go on.

    The batch reads the columns in the same round trip that takes its locks, so this is the
    last moment an ALTER lands before it: the batch must see the new column.
    """

    async def alter() -> None:
        for statement in statements:
            await service.tdb.execute(statement)

    return service.proxy.on_query(LOCK, run_before(alter))


async def test_column_added_to_vicidial_list_mid_batch_is_not_lost(service: Service) -> None:
    """An ALTER just before the batch: the batch must see the new column, never an old list."""
    tdb = service.tdb
    ids = await tdb.seed(5)
    add = f"ALTER TABLE {LEADS} ADD COLUMN extra_notes VARCHAR(20) DEFAULT 'kept'"
    rule = alter_before_the_batch(service, [add])
    response = await service.post(full_request(ids))
    assert rule.fired
    assert (response.status_code, response.json()) == (500, refused(MISSING))
    assert sorted(await tdb.rows(LEADS)) == ids
    assert await tdb.count(ARCHIVE) == 0
    values = await tdb.fetch(f"SELECT DISTINCT extra_notes FROM {LEADS}")
    assert values == [("kept",)]


async def test_column_added_to_both_mid_batch_is_copied(service: Service) -> None:
    tdb = service.tdb
    ids = await tdb.seed(5)
    alters = [
        f"ALTER TABLE {LEADS} ADD COLUMN extra_notes VARCHAR(20) DEFAULT 'kept'",
        f"ALTER TABLE {ARCHIVE} ADD COLUMN extra_notes VARCHAR(20)",
    ]
    rule = alter_before_the_batch(service, alters)
    response = await service.post(full_request(ids))
    assert rule.fired
    assert response.status_code == 200, response.text
    assert await tdb.fetch(f"SELECT DISTINCT extra_notes FROM {ARCHIVE}") == [("kept",)]
    assert await tdb.count(LEADS) == 0


async def test_column_added_between_batches_is_never_left_out(service: Service) -> None:
    """Catches a cached column list: the long-lived server must copy and compare the new column."""
    tdb = service.tdb
    ids = await tdb.seed(8)
    old = ids[:4]
    first = await service.post(full_request(old, delete_leads=False))
    assert first.json()["insert_count"] == 4, first.text

    for table in (LEADS, ARCHIVE):
        await tdb.execute(f"ALTER TABLE {table} ADD COLUMN extra_notes VARCHAR(20)")
    await tdb.execute(f"UPDATE {LEADS} SET extra_notes = CONCAT('note-', lead_id)")
    ledger = await Ledger.snapshot(tdb.db)

    # Delete only: the archived copies lack the notes, so nothing may be deleted.
    response = await service.post(full_request(old, insert_leads=False, update_leads=False))
    assert response.json()["delete_count"] == 0, response.text
    # The full batch copies the notes (update for old leads, insert for new) and only then deletes.
    response = await service.post(full_request(ids))
    assert response.json() | {"message": ""} == {
        "message": "",
        "select_count": 8,
        "insert_count": 4,
        "update_count": 4,
        "delete_count": 8,
    }
    await assert_all_archived(tdb.db, ledger)
    archived = await table_rows(tdb.db, ARCHIVE)
    assert {row[-1] for row in archived.values()} == {f"note-{i}" for i in ids}
