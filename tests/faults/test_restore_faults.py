"""Faults in the middle of a restore batch: the invariant holds in the other direction.

Every lead that was archived is either still in the archive with its data, or back in
vicidial_list with exactly that data (or both, identical); a rerun of the same batch
finishes the job. The kill comes at each step of a restore batch (before the first
statement, after the lock's round trip with the existence check, after the insert into
vicidial_list, after the delete from the archive, before COMMIT), through the same test seam
as the archive's; then the whole
`lead-archive grpc` process is SIGKILLed while a restore is held half-way.
"""

from __future__ import annotations

import asyncio
from functools import partial

import httpx
import pytest
from lead_archive_server.access.keys import create_key
from lead_archive_server.core.restore import restore_leads
from lead_archive_server.service import servicer

from tests.faults.conftest import Service
from tests.faults.test_kill_connection import UNAVAILABLE_BODY, kill_at
from tests.faults.test_kill_server import (
    SHIM_DOWN,
    GrpcProcess,
    child,  # noqa: F401 (a fixture)
    quiet,
    shim,
    wait_until,
)
from tests.invariant import Ledger, assert_no_lead_lost
from tests.support import ARCHIVE, LEADS, TestDb

RESTORE = "/vicidial/leads/restore"
STEPS = ("start", "checked", "insert", "delete")


async def archived_ledger(tdb: TestDb, count: int) -> tuple[list[int], Ledger]:
    """Leads archived (gone from vicidial_list), 5 of them also live again, identical; the
    ledger holds each lead's data as the archive has it."""
    ids = await tdb.seed_many(count)
    ledger = await Ledger.snapshot(tdb.db)
    await tdb.copy_to_archive(ids)
    marks = ", ".join(["%s"] * (count - 5))
    await tdb.execute(f"DELETE FROM {LEADS} WHERE lead_id IN ({marks})", ids[5:])
    return ids, ledger


async def assert_all_restored(tdb: TestDb, ledger: Ledger) -> None:
    where = await assert_no_lead_lost(tdb.db, ledger)
    assert where.in_list == ledger.last.keys() and not where.in_both
    assert await tdb.count(ARCHIVE) == 0


@pytest.mark.parametrize("step", STEPS)
async def test_killed_connection_at_each_step_of_a_restore_loses_nothing(
    service: Service, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    tdb = service.tdb
    ids, ledger = await archived_ledger(tdb, 40)
    killed: list[int] = []
    hooked = partial(restore_leads, after_step=kill_at(service, step, killed))
    monkeypatch.setattr(servicer, "restore_leads", hooked)

    response = await service.http.post(RESTORE, json={"lead_ids": ids}, headers=service.headers)

    assert killed, "the hook never ran"
    assert (response.status_code, response.json()) == (500, UNAVAILABLE_BODY)
    where = await assert_no_lead_lost(tdb.db, ledger)
    if tdb.engine == "InnoDB" or step in ("start", "checked"):
        # Rolled back, or killed before any write: exactly as before.
        assert where.archived_only == set(ids[5:]) and where.in_both == set(ids[:5])
    elif step == "insert":
        assert where.in_both == set(ids)  # MyISAM: back in vicidial_list, archive kept
    else:
        assert where.in_list == set(ids) and not where.in_both  # MyISAM: the delete had run

    monkeypatch.undo()
    left = sorted(set(ids) - where.in_list | where.in_both)
    if left:
        response = await service.http.post(
            RESTORE, json={"lead_ids": left}, headers=service.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["delete_count"] == len(left)
    await assert_all_restored(tdb, ledger)


async def _restoring(tdb: TestDb) -> bool:
    """Whether the batch's delete from the archive is waiting for the table lock."""
    rows = await tdb.fetch(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
        "AND COMMAND = 'Query' AND ID <> CONNECTION_ID() AND INFO LIKE %s",
        [f"DELETE a FROM {ARCHIVE}%"],
    )
    return bool(rows[0][0])


async def test_sigkill_while_a_restore_is_held_half_way(tdb: TestDb, child: GrpcProcess) -> None:  # noqa: F811
    """The delete from the archive waits on a table lock, after the insert; then kill -9."""
    ids, ledger = await archived_ledger(tdb, 300)
    headers = {"Authorization": f"Key={await create_key(tdb.db, '6666')}"}
    async with shim(child.port) as http:
        async with tdb.db.session() as blocker:
            if tdb.engine == "MyISAM":
                await blocker.execute(f"LOCK TABLES {ARCHIVE} READ")
            else:  # InnoDB: a shared lock on one archived row lets the insert read it only
                await blocker.execute("BEGIN")
                await blocker.fetch_all(
                    f"SELECT lead_id FROM {ARCHIVE} WHERE lead_id = %s LOCK IN SHARE MODE",
                    [ids[-1]],
                )
            try:
                call = asyncio.create_task(
                    http.post(RESTORE, json={"lead_ids": ids}, headers=headers)
                )
                await wait_until(lambda: _restoring(tdb))
                await child.kill()
                response = await call
            finally:
                await blocker.execute("UNLOCK TABLES" if tdb.engine == "MyISAM" else "ROLLBACK")
        assert (response.status_code, response.json()) == (500, SHIM_DOWN)
        await quiet(tdb)
        where = await assert_no_lead_lost(tdb.db, ledger)
        if tdb.engine == "MyISAM":
            assert where.in_list == set(ids)  # the insert had run
        else:
            assert where.archived_only == set(ids[5:])  # rolled back

        await child.start()
        left = sorted(set(ids) - where.in_list | where.in_both)
        async with asyncio.timeout(60):
            while left:
                try:
                    response = await http.post(RESTORE, json={"lead_ids": left}, headers=headers)
                except httpx.HTTPError:  # the shim's channel reconnecting
                    response = None
                if response is not None and response.status_code != 500:
                    break
                await asyncio.sleep(0.2)
        if left:
            assert response is not None and response.status_code == 200, response
    await assert_all_restored(tdb, ledger)
