"""Restart MariaDB (a private server of this test run) while batches are being archived.

Two REST clients keep sending batches; the server is stopped (SIGTERM, a clean shutdown
that kills every connection mid-statement; or SIGKILL, a crash, on InnoDB) and started
again. Calls made meanwhile get a clear 500; the same service, never restarted, works again
once the database is back; the invariant holds for every lead; rerunning the failed
batches archives everything.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import deque

import pytest

from tests.faults.support_service import Service, serving
from tests.invariant import Ledger, assert_all_archived, assert_no_lead_lost
from tests.private_mariadb import PrivateMariaDB
from tests.support import ARCHIVE, LEADS, TestDb, wait_until
from tests.support_shim import full_request

UNAVAILABLE = "database unavailable; retry the batch"
NEEDS_REPAIR = re.compile(
    r"table (vicidial_list|vicidial_list_archive) (is marked as crashed"
    r"|exists but its columns cannot be read)"
)


class Load:
    """Clients that send batches from a shared queue and note every answer."""

    def __init__(self, service: Service, batches: list[list[int]]) -> None:
        self.service = service
        self.todo = deque(batches)
        self.failed: list[list[int]] = []
        self.ok = 0
        self.errors: list[tuple[int, str]] = []
        self.ok_after_restart = asyncio.Event()
        self.restarted = False

    async def client(self, deadline: float) -> None:
        while self.todo and time.monotonic() < deadline:
            batch = self.todo.popleft()
            response = await self.service.post(full_request(batch))
            if response.status_code == 200:
                self.ok += 1
                if self.restarted:
                    self.ok_after_restart.set()
                continue
            self.errors.append((response.status_code, response.json()["message"]))
            self.failed.append(batch)
            # Not a wait for something: a client's pause after an error, as a caller's
            # back-off would be (without it a down database is hammered in a tight loop).
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["shutdown", "crash"])
async def test_restart_during_a_run_loses_nothing(
    private_tdb: TestDb, private_mariadb: PrivateMariaDB, sig: signal.Signals
) -> None:
    tdb = private_tdb
    await tdb.execute(f"DELETE FROM {LEADS}")
    await tdb.execute("DELETE FROM vicidial_list_archive")
    ids = await tdb.seed_many(4000)
    ledger = await Ledger.snapshot(tdb.db)
    async with serving(tdb) as service:
        load = Load(service, [ids[i : i + 100] for i in range(0, len(ids), 100)])
        deadline = time.monotonic() + 90
        clients = [asyncio.create_task(load.client(deadline)) for _ in range(2)]
        await wait_until(lambda: load.ok >= 5, 30, "the load to get going", every=0.01)
        await asyncio.to_thread(private_mariadb.restart, sig)
        load.restarted = True
        await recovered(load, tdb)
        await asyncio.gather(*clients)

        assert load.errors, "the restart went unnoticed: no call failed"
        assert {status for status, _ in load.errors} == {500}, load.errors
        messages = {message for _, message in load.errors}
        assert messages - {UNAVAILABLE} == set(filter(NEEDS_REPAIR.match, messages)), messages
        await assert_no_lead_lost(tdb.db, ledger)

        remaining = await tdb.rows(LEADS)
        for batch in (*load.failed, *load.todo):
            left = [lead_id for lead_id in batch if lead_id in remaining]
            if left:
                response = await service.post(full_request(left))
                assert response.status_code == 200, response.text
    await assert_all_archived(tdb.db, ledger)
    print(
        f"\n{tdb.engine} {sig.name}: {load.ok} batches ok, {len(load.errors)} failed: "
        f"{sorted(set(load.errors))}"
    )


async def recovered(load: Load, tdb: TestDb) -> None:
    """Wait until a batch works again; repair what a crash left marked, as an operator would.

    MyISAM tables open for writing when mariadbd is killed are marked as crashed; the
    service then says which table to repair (a 500, never a lost lead).
    """

    async def repaired_if_need_be() -> bool:
        if not load.ok_after_restart.is_set() and any(
            NEEDS_REPAIR.match(message) for _, message in load.errors
        ):
            assert tdb.engine == "MyISAM", load.errors
            for table in (LEADS, ARCHIVE):
                await tdb.execute(f"REPAIR TABLE {table}")
            await asyncio.wait_for(load.ok_after_restart.wait(), 30)
        return load.ok_after_restart.is_set()

    await wait_until(repaired_if_need_be, 60, "a batch to work after the restart", every=0.05)
