"""Batches under range locks (LEAD_ARCHIVE_BATCH_LOCKS=ranges), on both engines: a batch holds
the named lock of every range of sql.LEAD_RANGE lead IDs it touches; batches on other ranges
go on meanwhile, batches that share a range wait, and overlapping batches lose nothing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from lead_archive_server.core import archive as archive_module
from lead_archive_server.core import sql
from lead_archive_server.core.archive import ArchiveBatch, archive_leads
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import ServerError, UnknownLeadIds
from lead_archive_server.core.restore import RestoreBatch, restore_leads

from tests.invariant import Ledger, assert_no_lead_lost
from tests.support import ARCHIVE, LEADS, TestDb, lock_waiters, wait_until

RANGE = sql.LEAD_RANGE


def full(lead_ids: list[int]) -> ArchiveBatch:
    return ArchiveBatch.validated(insert=True, update=True, delete=True, lead_ids=lead_ids)


def test_a_batch_takes_its_ranges_in_ascending_order() -> None:
    assert sql.lead_ranges([RANGE * 3 + 1, 7, RANGE - 1, RANGE, 8]) == [0, 1, 3]
    lock = archive_module.batch_lock([RANGE * 3 + 1, 7, RANGE], ranges=True)
    assert lock.waits == 3
    names = [f"CONCAT('lead_archive:', DATABASE(), ':{n}')" for n in (0, 1, 3)]
    assert lock.acquire == sql.acquire_locks(names)
    assert lock.acquire.startswith(f"SELECT GET_LOCK({names[0]}, %s) AND GET_LOCK({names[1]}, ")
    assert lock.release == "SELECT " + ", ".join(f"RELEASE_LOCK({n})" for n in names)
    # Under the database's lock a batch takes its ranges too, after the database's.
    database = archive_module.batch_lock([RANGE + 7, 7], ranges=False)
    assert database.acquire == sql.acquire_locks([sql.DATABASE_LOCK, *names[:2]])
    assert database.waits == 3


@asynccontextmanager
async def range_held(tdb: TestDb, lead_range: int) -> AsyncIterator[None]:
    """Another connection holds one range's lock for the block."""
    holder = await Database.connect(tdb.db.url, pool_size=1)
    name = sql.range_lock(lead_range)
    try:
        async with holder.session() as session:
            assert await session.fetch_all(f"SELECT GET_LOCK({name}, 0)") == [(1,)]
            try:
                yield
            finally:
                await session.fetch_all(f"SELECT RELEASE_LOCK({name})")
    finally:
        await holder.close()


@pytest.mark.parametrize("waiting_locks", ["ranges", "database"])
async def test_a_batch_on_other_ranges_goes_on_while_one_waits_for_its_range(
    tdb: TestDb, waiting_locks: str
) -> None:
    # The waiting batch under range locks, or under the database's lock as on a replica not
    # yet switched (replicas are switched one at a time): either way it waits for the range
    # another holds, and a batch under range locks on another range goes on beside it.
    ids = await tdb.seed_many(10, first_id=RANGE * 2 + 1) + await tdb.seed_many(10, first_id=1)
    waiting_ids, other_ids = ids[:10], ids[10:]  # range 2, range 0
    ledger = await Ledger.snapshot(tdb.db)
    async with range_held(tdb, 2):
        waiting = asyncio.create_task(
            archive_leads(tdb.db, full(waiting_ids), range_locks=waiting_locks == "ranges")
        )
        await wait_until(lambda: lock_waiters(tdb), 10, "the batch to wait for its range")
        other = await asyncio.wait_for(archive_leads(tdb.db, full(other_ids), range_locks=True), 10)
        assert other.delete_count == 10
        assert not waiting.done()
        assert sorted(await tdb.rows(LEADS)) == waiting_ids  # nothing of it moved yet
    assert (await asyncio.wait_for(waiting, 10)).delete_count == 10
    assert await tdb.count(LEADS) == 0
    await assert_no_lead_lost(tdb.db, ledger)


async def test_under_the_database_lock_the_other_batch_waits_too(
    tdb: TestDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default: one batch at a time per database, whatever ranges its leads are in.
    ids = await tdb.seed_many(2, first_id=1)
    monkeypatch.setattr(archive_module, "BATCH_LOCK_TIMEOUT_S", 1)
    holder = await Database.connect(tdb.db.url, pool_size=1)
    try:
        async with holder.session() as session:
            assert await session.fetch_all(sql.ACQUIRE_BATCH_LOCK, (0,)) == [(1,)]
            with pytest.raises(ServerError, match="held the archive lock"):
                await archive_leads(tdb.db, full(ids))
            assert (await archive_leads(tdb.db, full(ids), range_locks=True)).delete_count == 2
            await session.fetch_all(sql.RELEASE_BATCH_LOCK)
    finally:
        await holder.close()


async def test_a_batch_across_two_ranges_waits_for_either(
    tdb: TestDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await tdb.seed_many(4, first_id=RANGE - 2)  # the last two of range 0, two of range 1
    monkeypatch.setattr(archive_module, "BATCH_LOCK_TIMEOUT_S", 1)
    before = await tdb.snapshot()
    for held in (0, 1):
        async with range_held(tdb, held):
            with pytest.raises(ServerError, match="held the archive lock"):
                await archive_leads(tdb.db, full(ids), range_locks=True)
        assert await tdb.snapshot() == before
        assert await lock_waiters(tdb) == 0
    assert (await archive_leads(tdb.db, full(ids), range_locks=True)).delete_count == 4


async def test_a_batch_waits_for_all_its_ranges_together_at_most_the_lock_timeout(
    tdb: TestDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Range 0 comes free after 0.8 s, range 1 never: the wait for range 1 gets what is left of
    # the one timeout (1 s in all), not a timeout of its own (1.8 s).
    ids = await tdb.seed_many(4, first_id=RANGE - 2)
    monkeypatch.setattr(archive_module, "BATCH_LOCK_TIMEOUT_S", 1)
    async with range_held(tdb, 1):
        async with range_held(tdb, 0):
            waiting = asyncio.create_task(archive_leads(tdb.db, full(ids), range_locks=True))
            await wait_until(lambda: lock_waiters(tdb), 10, "the batch to wait for range 0")
            started = time.monotonic()
            await asyncio.sleep(0.8)  # not a wait for something: range 0 is held this long
        with pytest.raises(ServerError, match="held the archive lock for 1 s"):
            await waiting
        assert time.monotonic() - started < 0.8 + 0.6


async def test_a_restore_waits_for_its_range_like_an_archive_batch(tdb: TestDb) -> None:
    ids = await tdb.seed_many(3, first_id=RANGE + 10)
    await archive_leads(tdb.db, full(ids), range_locks=True)
    async with range_held(tdb, 1):
        restoring = asyncio.create_task(
            restore_leads(tdb.db, RestoreBatch.validated(ids), range_locks=True)
        )
        await wait_until(lambda: lock_waiters(tdb), 10, "the restore to wait for its range")
        assert await tdb.count(LEADS) == 0
    assert (await asyncio.wait_for(restoring, 10)).delete_count == 3
    assert sorted(await tdb.rows(LEADS)) == ids
    assert await tdb.count(ARCHIVE) == 0


async def test_overlapping_batches_side_by_side_lose_nothing(tdb: TestDb) -> None:
    # Eight callers at once over 1,200 leads in three ranges, each batch a window that
    # overlaps its neighbours' and crosses range edges; a third insert only, the rest whole.
    ids = await tdb.seed_many(1200, first_id=1)
    ledger = await Ledger.snapshot(tdb.db)
    windows = [ids[start : start + 300] for start in range(0, 1200, 150)]

    async def caller(n: int, window: list[int]) -> None:
        delete = n % 3 != 0
        batch = ArchiveBatch.validated(insert=True, update=True, delete=delete, lead_ids=window)
        with contextlib.suppress(UnknownLeadIds):  # a neighbour deleted one of them first
            await archive_leads(tdb.db, batch, range_locks=True)

    await asyncio.gather(*(caller(n, w) for n, w in enumerate(windows)))
    await assert_no_lead_lost(tdb.db, ledger)
    left = sorted(await tdb.rows(LEADS))
    # The rest archive cleanly afterwards.
    for start in range(0, len(left), 500):
        batch = full(left[start : start + 500])
        assert (await archive_leads(tdb.db, batch, range_locks=True)).delete_count == len(
            batch.lead_ids
        )
    assert await tdb.count(LEADS) == 0
