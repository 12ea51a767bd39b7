"""Two replicas of the service on one database, each `lead-archive serve` in its own process,
both under range locks (LEAD_ARCHIVE_BATCH_LOCKS=ranges) or one under the database's lock (as
while replicas are switched one at a time), fed at once by bulk runs whose selections overlap
and whose pages are cut differently: no lead is lost, every run finishes complete, and no
caller ever hears of a lock conflict (the service reruns its batches)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lead_archive_server.access.keys import create_key

from tests.invariant import Ledger, assert_no_lead_lost
from tests.processes import environment, finished, serve_environment, serving
from tests.support import ARCHIVE, LEADS, TestDb

LEADS_SEEDED = 10_000


async def bulk_run(target: str, key: str, tdb: TestDb, *args: str) -> tuple[int, str]:
    env = environment(database_url=tdb.db.url.url(), target=target, api_key=key)
    code, out, err = await finished("archive", *args, env=env, seconds=240)
    return code, out + err


@pytest.mark.parametrize("first_locks", ["ranges", "database"])
async def test_two_replicas_fed_overlapping_runs_lose_nothing(
    tdb: TestDb, tmp_path: Path, first_locks: str
) -> None:
    ids = await tdb.seed_many(LEADS_SEEDED, first_id=1)
    ledger = await Ledger.snapshot(tdb.db)
    key = await create_key(tdb.db, "nightly")
    url = tdb.db.url.url()
    replicas = [serve_environment(url, batch_locks=locks) for locks in (first_locks, "ranges")]
    async with (
        serving(replicas[0].env, tmp_path / "replica-1.log"),
        serving(replicas[1].env, tmp_path / "replica-2.log"),
    ):
        first, second = (f"127.0.0.1:{replica.grpc_port}" for replica in replicas)
        runs = await asyncio.gather(
            # The same leads three ways: by list, by status, and in pages of 137 that cut
            # across the others' pages and ranges; four batches in flight each, paced so that
            # each run lasts about two seconds and they meet however their starts fall.
            bulk_run(first, key, tdb, "--list-id", "1001", "--sleep", "0.1"),
            bulk_run(second, key, tdb, "--status", "NEW", "--sleep", "0.1"),
            bulk_run(
                second, key, tdb, "--list-id", "1001", "--batch-size", "137", "--sleep", "0.03"
            ),
        )
    for code, out in runs:
        assert code == 0, out
        assert "Traceback" not in out and "lock" not in out.lower(), out
    assert await tdb.count(LEADS) == 0
    assert sorted(await tdb.rows(ARCHIVE)) == ids
    await assert_no_lead_lost(tdb.db, ledger)
