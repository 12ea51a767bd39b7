"""The dialer keeps writing while batches archive the same leads.

Dialer connections (a pool of their own) update leads, each lead by one dialer so the test
knows the order of its writes, and insert new ones; archivers send batches with every mix of
flags (a delete without update must refuse a stale copy) over the leads still in
vicidial_list. The test tracks the last write to every lead. When it stops, no lead may be
in the archive alone with anything but its last data; a final drain then archives every
lead, and each must end in the archive with exactly its last state.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from datetime import datetime, timedelta

from lead_archive_server.core.archive import ArchiveBatch, ArchiveResult, archive_leads
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import TransientConflict, UnknownLeadIds

from tests.invariant import Ledger, assert_all_archived, assert_no_lead_lost
from tests.support import LEADS, TestDb, lead_row

RUN_S = 4.0
DIALERS = 3
ARCHIVERS = 2
FLAGS = [(True, True, True), (True, False, False), (False, False, True), (True, False, True)]
UPDATED = ("status", "comments", "called_count", "modify_date")


class Dialer:
    """Writes to leads the way agents and the dialer do, noting every write in the ledger."""

    def __init__(self, db: Database, ledger: Ledger, columns: list[str]) -> None:
        self.db, self.ledger = db, ledger
        self.at = [columns.index(name) for name in UPDATED]
        self.columns = columns
        self.writes = 0
        self.inserts = 0
        self.serial = 0

    async def run(self, index: int, deadline: float, chance: random.Random) -> None:
        while time.monotonic() < deadline:
            if chance.random() < 0.1:
                await self.insert()
                continue
            mine = [i for i in self.ledger.last if i % DIALERS == index]
            await self.update(chance.choice(mine))

    async def update(self, lead_id: int) -> None:
        self.serial += 1
        values = (
            f"S{self.serial % 1000}",
            f"call {self.serial} 😀",
            self.serial % 60000,
            datetime(2025, 1, 1) + timedelta(seconds=self.serial),
        )
        try:
            async with self.db.session() as session:
                changed = await session.execute(
                    f"UPDATE {LEADS} SET status = %s, comments = %s, called_count = %s, "
                    "modify_date = %s WHERE lead_id = %s",
                    [*values, lead_id],
                )
        except TransientConflict:
            return  # rolled back: the lead kept its data
        if changed:  # 0 when the lead was archived and deleted meanwhile
            row = list(self.ledger.last[lead_id])
            for position, value in zip(self.at, values, strict=True):
                row[position] = value
            self.ledger.last[lead_id] = tuple(row)
            self.writes += 1

    async def insert(self) -> None:
        row = lead_row()
        names = ", ".join(f"`{c}`" for c in row)
        async with self.db.session() as session:
            await session.execute(
                f"INSERT INTO {LEADS} ({names}) VALUES ({', '.join(['%s'] * len(row))})",
                list(row.values()),
            )
            new = (
                await session.fetch_all(f"SELECT * FROM {LEADS} WHERE lead_id = LAST_INSERT_ID()")
            )[0]
        self.ledger.last[int(new[0])] = tuple(new)
        self.inserts += 1


async def archiver(tdb: TestDb, ledger: Ledger, deadline: float, chance: random.Random) -> list:
    """Archive random leads still in vicidial_list, with random flags, until the deadline."""
    db = tdb.db
    results: list[ArchiveResult] = []
    while time.monotonic() < deadline:
        sample = chance.sample(sorted(ledger.last), 50)
        async with db.session() as session:
            rows = await session.fetch_all(
                f"SELECT lead_id FROM {LEADS} WHERE lead_id IN ({', '.join(['%s'] * 50)})", sample
            )
        present = [int(r[0]) for r in rows]
        if not present:
            continue
        insert, update, delete = chance.choice(FLAGS)
        batch = ArchiveBatch.validated(
            insert=insert, update=update, delete=delete, lead_ids=present
        )
        # UnknownLeadIds: another archiver deleted one of them first (documented; no change).
        with contextlib.suppress(UnknownLeadIds):
            results.append(await archive_leads(db, batch, range_locks=tdb.range_locks))
    return results


async def test_dialer_writes_during_archiving_never_reach_the_archive_stale(
    tdb: TestDb,
) -> None:
    await tdb.seed_many(1500)
    ledger = await Ledger.snapshot(tdb.db)
    columns = [r[0] for r in await tdb.fetch(f"SHOW COLUMNS FROM {LEADS}")]
    dialer_db = await Database.connect(tdb.db.url, pool_size=DIALERS)
    dialer = Dialer(dialer_db, ledger, columns)
    chance = random.Random(7)
    deadline = time.monotonic() + RUN_S
    try:
        done = await asyncio.gather(
            *(dialer.run(i, deadline, random.Random(i)) for i in range(DIALERS)),
            *(archiver(tdb, ledger, deadline, chance) for _ in range(ARCHIVERS)),
        )
    finally:
        await dialer_db.close()
    results = [r for part in done if part for r in part]
    kept = sum(r.kept_count for r in results)
    deleted = sum(r.delete_count for r in results)
    print(
        f"\n{tdb.engine}: {dialer.writes} dialer updates, {dialer.inserts} inserts, "
        f"{len(results)} batches, {deleted} leads deleted, {kept} kept (not archived or changed)"
    )
    assert dialer.writes > 100 and deleted > 100, "too little happened to prove anything"
    await assert_no_lead_lost(tdb.db, ledger)

    remaining = sorted(i for i, _ in (await tdb.rows(LEADS)).items())
    for start in range(0, len(remaining), 500):
        chunk = remaining[start : start + 500]
        batch = ArchiveBatch.validated(insert=True, update=True, delete=True, lead_ids=chunk)
        result = await archive_leads(tdb.db, batch, range_locks=tdb.range_locks)
        assert result.delete_count == len(chunk)
    await assert_all_archived(tdb.db, ledger)
