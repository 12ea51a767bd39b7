"""Faults in the middle of a restore batch: the invariant holds in the other direction.

Every lead that was archived is either still in the archive with its data, or back in
vicidial_list with exactly that data (or both, identical); a rerun of the same batch
finishes the job. The kill comes at each step of a restore batch (before the first
statement, after the lock's round trip with the existence check, after the insert into
vicidial_list with the delete from the archive held by a trigger, after the delete from the
archive, before COMMIT), through the wire proxy as for the archive (test_kill_connection);
then the whole `lead-archive grpc` process, connected through the proxy, is SIGKILLed while
a restore is held half-way at the same point.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from lead_archive_server.access.keys import create_key

from tests.faults.support_faults import SHIM_DOWN, assert_killed, hold_half_way, quiet, shim
from tests.faults.support_service import GrpcProcess, Service
from tests.faults.wire import (
    BEFORE_ARCHIVE_DELETE,
    COMMIT,
    LOCK,
    WRITES,
    Action,
    WireProxy,
    kill_before,
    kill_held,
)
from tests.invariant import Ledger, assert_no_lead_lost
from tests.support import ARCHIVE, LEADS, TestDb, wait_until

RESTORE = "/vicidial/leads/restore"
STEPS = ("start", "checked", "insert", "delete")
# Where each step's kill lands (see test_kill_connection); the writes' round trip holds the
# insert into vicidial_list, then the delete from the archive.
KILLS: dict[str, tuple[str, Action]] = {
    "start": (LOCK, kill_before),
    "checked": (WRITES, kill_before),
    "insert": (WRITES, kill_held(BEFORE_ARCHIVE_DELETE)),
    "delete": (COMMIT, kill_before),
}
ANSWERED = {"start": None, "checked": 0, "insert": 1, "delete": 2}


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
    service: Service, holds: None, step: str
) -> None:
    tdb = service.tdb
    ids, ledger = await archived_ledger(tdb, 40)
    rule = service.proxy.on_query(*KILLS[step])

    response = await service.http.post(RESTORE, json={"lead_ids": ids}, headers=service.headers)

    assert_killed(service, rule, response, ANSWERED[step])
    where = await assert_no_lead_lost(tdb.db, ledger)
    if tdb.engine == "InnoDB" or step in ("start", "checked"):
        # Rolled back, or killed before any write: exactly as before.
        assert where.archived_only == set(ids[5:]) and where.in_both == set(ids[:5])
    elif step == "insert":
        assert where.in_both == set(ids)  # MyISAM: back in vicidial_list, archive kept
    else:
        assert where.in_list == set(ids) and not where.in_both  # MyISAM: the delete had run

    left = sorted(set(ids) - where.in_list | where.in_both)
    if left:
        response = await service.http.post(
            RESTORE, json={"lead_ids": left}, headers=service.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["delete_count"] == len(left)
    await assert_all_restored(tdb, ledger)


async def test_sigkill_while_a_restore_is_held_half_way(
    tdb: TestDb, wire: WireProxy, child: GrpcProcess, holds: None
) -> None:
    """The delete from the archive is held (after the insert into vicidial_list); then
    kill -9, and the held statement is let go to run out."""
    ids, ledger = await archived_ledger(tdb, 300)
    headers = {"Authorization": f"Key={await create_key(tdb.db, '6666')}"}
    async with shim(child.port) as http:
        async with hold_half_way(wire, BEFORE_ARCHIVE_DELETE) as half_way:
            call = asyncio.create_task(http.post(RESTORE, json={"lead_ids": ids}, headers=headers))
            await half_way.wait()
            await child.kill()
            response = await call
        assert (response.status_code, response.json()) == (500, SHIM_DOWN)
        await quiet(tdb)
        where = await assert_no_lead_lost(tdb.db, ledger)
        if tdb.engine == "MyISAM":
            assert where.in_list == set(ids)  # the insert had run
        else:
            assert where.archived_only == set(ids[5:])  # rolled back

        await child.start()
        left = sorted(set(ids) - where.in_list | where.in_both)

        async def answered() -> httpx.Response | None:
            try:
                response = await http.post(RESTORE, json={"lead_ids": left}, headers=headers)
            except httpx.HTTPError:  # the shim's channel reconnecting
                return None
            return None if response.status_code == 500 else response

        if left:
            response = await wait_until(answered, 60, "the restarted server", every=0.2)
            assert response.status_code == 200, response
    await assert_all_restored(tdb, ledger)
