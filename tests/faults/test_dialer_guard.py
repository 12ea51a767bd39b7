"""The dialer keeps putting leads into the hopper, calls, agents' screens and callbacks while
batches archive the same leads (CONTRACT 6), on both engines.

Dialer connections (a pool of their own) do what Vicidial's processes do, each write one
statement that names a lead only while it is in vicidial_list (INSERT … SELECT … FROM
vicidial_list, as a hopper fill reads the list): fill the hopper with READY rows, take READY
rows (QUEUE, then a call in vicidial_auto_calls), hang up, put leads on agents' screens and
schedule callbacks. Archivers send full batches over random leads. At the end: no lead lost
(CONTRACT 3), no hopper row and no call, agent screen or due callback naming a lead that left
vicidial_list, and every lead the dialer was not using any more archives on a final pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

import pymysql
from lead_archive_server.core.archive import ArchiveBatch, ArchiveResult, archive_leads
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import UnknownLeadIds

from tests.invariant import Ledger, assert_no_lead_lost
from tests.support import LEADS, TestDb
from tests.support_dialer import orphan_calls, orphan_hopper_rows

RUN_S = 4.0
# InnoDB: a lock-wait timeout or a deadlock, and a deadlock on the AUTO-INC lock of an
# INSERT … SELECT, which InnoDB reports as "failed to read auto-increment value" (1467).
LOST_TO_A_BATCH = {1205, 1213, 1467}
DIALERS = 3
ARCHIVERS = 2

# Each names its lead through vicidial_list, so it writes nothing for a lead already gone.
FILL = (
    "INSERT INTO vicidial_hopper (lead_id, campaign_id, status, list_id) "
    f"SELECT lead_id, 'CAMP', 'READY', list_id FROM {LEADS} WHERE lead_id = %s"
)
TAKE = "UPDATE vicidial_hopper SET status = 'QUEUE' WHERE lead_id = %s AND status = 'READY'"
DIAL = (
    "INSERT INTO vicidial_auto_calls (server_ip, campaign_id, status, lead_id, call_time) "
    "SELECT '10.0.0.1', 'CAMP', 'SENT', lead_id, NOW() FROM vicidial_hopper "
    "WHERE lead_id = %s AND status = 'QUEUE' LIMIT 1"
)
CALLING = "UPDATE vicidial_hopper SET status = 'INCALL' WHERE lead_id = %s AND status = 'QUEUE'"
HANG_UP = (
    "DELETE FROM vicidial_auto_calls WHERE lead_id = %s",
    "DELETE FROM vicidial_hopper WHERE lead_id = %s AND status <> 'READY'",
)
SCREEN = (
    "INSERT INTO vicidial_live_agents (user, server_ip, status, lead_id) "
    f"SELECT 'agent', '10.0.0.1', 'INCALL', lead_id FROM {LEADS} WHERE lead_id = %s"
)
FREE_AGENT = "DELETE FROM vicidial_live_agents WHERE lead_id = %s"
PREVIEW = (
    "INSERT INTO vicidial_live_agents (user, server_ip, status, lead_id, preview_lead_id) "
    f"SELECT 'agent', '10.0.0.1', 'PAUSED', 0, lead_id FROM {LEADS} WHERE lead_id = %s"
)
SKIP_PREVIEW = "DELETE FROM vicidial_live_agents WHERE preview_lead_id = %s"
HELD_CALLBACK = (
    "INSERT INTO vicidial_callbacks (lead_id, list_id, campaign_id, status, callback_time) "
    f"SELECT lead_id, list_id, 'CAMP', 'TFHCCL', NOW() FROM {LEADS} WHERE lead_id = %s"
)
CALLBACK = (
    "INSERT INTO vicidial_callbacks (lead_id, list_id, campaign_id, status, callback_time) "
    f"SELECT lead_id, list_id, 'CAMP', 'ACTIVE', NOW() FROM {LEADS} WHERE lead_id = %s"
)
CALLBACK_DONE = "UPDATE vicidial_callbacks SET status = 'INACTIVE' WHERE lead_id = %s"

ACTIONS: list[tuple[str, ...]] = [
    (FILL,),
    (FILL,),
    (TAKE, DIAL, CALLING),
    HANG_UP,
    (SCREEN,),
    (FREE_AGENT,),
    (CALLBACK,),
    (CALLBACK_DONE,),
    (PREVIEW,),
    (SKIP_PREVIEW,),
    (HELD_CALLBACK,),
]


class Dialer:
    """Vicidial's processes, one statement at a time, each on a random lead."""

    def __init__(self, db: Database, lead_ids: list[int]) -> None:
        self.db, self.lead_ids = db, lead_ids
        self.writes = 0
        self.lost = 0  # statements InnoDB refused for a lock conflict with a batch

    async def run(self, deadline: float, chance: random.Random) -> None:
        while time.monotonic() < deadline:
            lead_id = chance.choice(self.lead_ids)
            for statement in chance.choice(ACTIONS):
                async with self.db.session() as session:
                    try:
                        self.writes += await session.execute(statement, [lead_id])
                    except pymysql.err.MySQLError as error:
                        if error.args[0] not in LOST_TO_A_BATCH:
                            raise
                        self.lost += 1
                        break  # this step did not happen, as for Vicidial's own scripts


async def archiver(tdb: TestDb, lead_ids: list[int], deadline: float, chance: random.Random):
    db = tdb.db
    results: list[ArchiveResult] = []
    while time.monotonic() < deadline:
        sample = chance.sample(lead_ids, 50)
        async with db.session() as session:
            rows = await session.fetch_all(
                f"SELECT lead_id FROM {LEADS} WHERE lead_id IN ({', '.join(['%s'] * 50)})", sample
            )
        present = [int(r[0]) for r in rows]
        if not present:
            continue
        batch = ArchiveBatch.validated(insert=True, update=True, delete=True, lead_ids=present)
        with contextlib.suppress(UnknownLeadIds):  # another archiver deleted one first
            results.append(await archive_leads(db, batch, range_locks=tdb.range_locks))
    return results


async def test_a_busy_dialer_never_loses_a_lead_under_it(tdb: TestDb) -> None:
    lead_ids = await tdb.seed_many(1000)
    ledger = await Ledger.snapshot(tdb.db)
    dialer_db = await Database.connect(tdb.db.url, pool_size=DIALERS)
    hot = lead_ids[:500]  # the dialer and the archivers meet on these
    dialer = Dialer(dialer_db, hot)
    chance = random.Random(11)
    deadline = time.monotonic() + RUN_S
    try:
        done = await asyncio.gather(
            *(dialer.run(deadline, random.Random(i)) for i in range(DIALERS)),
            *(archiver(tdb, hot, deadline, chance) for _ in range(ARCHIVERS)),
        )
    finally:
        await dialer_db.close()
    results = [r for part in done if part for r in part]
    deleted = sum(r.delete_count for r in results)
    in_use = sum(r.in_use_count for r in results)
    print(
        f"\n{tdb.engine}: {dialer.writes} dialer rows written ({dialer.lost} statements lost "
        f"to lock conflicts), {len(results)} batches, "
        f"{deleted} leads deleted, {in_use} kept in use"
    )
    happened = (dialer.writes, deleted, in_use)
    assert dialer.writes > 20 and deleted > 100 and in_use > 10, f"too little: {happened}"
    assert sum(r.kept_count for r in results) == 0  # no lead data changed: only the dialer
    await assert_no_lead_lost(tdb.db, ledger)
    assert await orphan_hopper_rows(tdb) == []
    assert await orphan_calls(tdb) == []

    # The dialer stops; calls end, agents hang up, callbacks are done: everything archives.
    for table in ("vicidial_auto_calls", "vicidial_live_agents", "vicidial_callbacks"):
        await tdb.execute(f"DELETE FROM {table}")
    await tdb.execute("DELETE FROM vicidial_hopper WHERE status <> 'READY'")
    remaining = sorted(await tdb.rows(LEADS))
    for start in range(0, len(remaining), 500):
        chunk = remaining[start : start + 500]
        batch = ArchiveBatch.validated(insert=True, update=True, delete=True, lead_ids=chunk)
        result = await archive_leads(tdb.db, batch, range_locks=tdb.range_locks)
        assert result.delete_count == len(chunk)
    assert await tdb.count(LEADS) == 0
    assert await tdb.count("vicidial_hopper") == 0  # READY rows left with their leads


# The hopper's own way (AST_VDhopper.pl): read the lead, then insert its READY row, without
# locking the lead in between. The two statements go in one round trip, so the read and
# the insert are as close as the hopper can make them.
HOPPER_RUN = (
    "SET @seen = NULL; "
    f"SELECT lead_id INTO @seen FROM {LEADS} WHERE lead_id = %s; "
    "INSERT INTO vicidial_hopper (lead_id, campaign_id, status, list_id) "
    "SELECT @seen, 'CAMP', 'READY', 1001 FROM DUAL WHERE @seen IS NOT NULL"
)


async def hopper_runs(db: Database, lead_ids: list[int], deadline: float, seed: int) -> int:
    """Insert READY rows the hopper's way until the deadline; how many went in."""
    chance, written = random.Random(seed), 0
    while time.monotonic() < deadline:
        async with db.session() as session:
            sets = await session.fetch_sets(HOPPER_RUN, [chance.choice(lead_ids)])
        written += len(sets)  # (fetch_sets reads every statement's result)
        await asyncio.sleep(0)  # not a wait: a turn of the loop for the batch running meanwhile
    return written


async def test_a_hopper_that_reads_then_inserts_leaves_no_orphan(tdb: TestDb) -> None:
    """MEMORY hopper (as Vicidial installs it): nothing makes the hopper's insert wait for a
    batch, so READY rows land for leads a batch has deleted but not yet committed (InnoDB)
    or just deleted (MyISAM). The sweep in each batch's COMMIT round trip takes them."""
    lead_ids = await tdb.seed_many(600)
    ledger = await Ledger.snapshot(tdb.db)
    hopper_db = await Database.connect(tdb.db.url, pool_size=2)
    deadline = time.monotonic() + RUN_S
    try:
        done = await asyncio.gather(
            *(hopper_runs(hopper_db, lead_ids, deadline, seed) for seed in range(2)),
            *(archiver(tdb, lead_ids, deadline, random.Random(7 + i)) for i in range(2)),
        )
    finally:
        await hopper_db.close()
    results = [r for part in done[2:] for r in part]
    deleted = sum(r.delete_count for r in results)
    print(f"\n{tdb.engine}: {len(results)} batches, {deleted} leads deleted")
    assert deleted > 100, f"too little archived: {deleted}"
    await assert_no_lead_lost(tdb.db, ledger)
    assert await orphan_hopper_rows(tdb) == []
