"""kill -9 the gRPC server process in the middle of batches, start it again, lose nothing.

`lead-archive grpc` runs as a child process, its pool connected through the wire proxy
(tests/faults/wire.py). Once, deterministically: a batch is held half-way (its delete from
vicidial_list waits in a trigger before its first row, the archive's insert and update done,
in the same round trip) and the process is killed there; then the held statement is let go
and runs out inside MariaDB, as a statement of a dead client does. Then at random moments
while three clients keep sending batches. Each time the callers get a clear 500 (REST) or
UNAVAILABLE (gRPC), the invariant holds for every lead, and after a restart the same batches
finish the job.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque

import grpc
import httpx
from lead_archive_server.access.keys import create_key
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.faults.support_faults import SHIM_DOWN, hold_half_way, quiet, shim
from tests.faults.support_service import GrpcProcess
from tests.faults.wire import BEFORE_DELETE, WAIT_S, WireProxy
from tests.invariant import Ledger, assert_all_archived, assert_no_lead_lost
from tests.support import LEADS, TestDb, wait_until
from tests.support_shim import ENDPOINT, full_request


async def test_sigkill_while_a_batch_is_held_half_way(
    tdb: TestDb, wire: WireProxy, child: GrpcProcess, holds: None
) -> None:
    ids = await tdb.seed_many(700)
    ledger = await Ledger.snapshot(tdb.db)
    key = await create_key(tdb.db, "6666")
    headers = {"Authorization": f"Key={key}"}
    batch = ids[:500]
    async with shim(child.port) as http:
        async with hold_half_way(wire, BEFORE_DELETE) as half_way:
            call = asyncio.create_task(
                http.post(ENDPOINT, json=full_request(batch), headers=headers)
            )
            await asyncio.wait_for(half_way.wait(), WAIT_S)
            await child.kill()
            response = await call
        assert (response.status_code, response.json()) == (500, SHIM_DOWN)
        await quiet(tdb)
        where = await assert_no_lead_lost(tdb.db, ledger)
        if tdb.engine == "MyISAM":
            assert where.in_both | where.archived_only >= set(batch)  # the insert had run

        await child.start()
        # On MyISAM the DELETE the dead process had sent ran out once let go: it compares
        # before it deletes, so that is as safe as any other moment.
        for part in filter(None, (sorted(where.in_list & set(batch)), ids[500:])):
            response = await post_when_up(http, part, headers)
            assert response.json()["delete_count"] == len(part), response.text
    await assert_all_archived(tdb.db, ledger)


async def post_when_up(http: httpx.AsyncClient, lead_ids: list[int], headers) -> httpx.Response:
    """POST once the shim's channel has reconnected to the restarted server (bounded)."""

    async def answered() -> httpx.Response | None:
        response = await http.post(ENDPOINT, json=full_request(lead_ids), headers=headers)
        return None if response.json() == SHIM_DOWN else response

    response = await wait_until(answered, 60, "the shim to reach the restarted server", every=0.2)
    assert response.status_code == 200, response.text
    return response


async def send_batches(
    port: int,
    key: str,
    todo: deque[list[int]],
    failed: list[list[int]],
    codes: list,
    done: list[list[int]] | None = None,
) -> None:
    """Send batches until none are left or the server dies under a call."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.LeadArchiveServiceStub(channel)
        while todo:
            batch = todo.popleft()
            request = pb.ArchiveLeadsRequest(
                insert_leads=True, update_leads=True, delete_leads=True, lead_ids=batch
            )
            try:
                await stub.ArchiveLeads(
                    request, metadata=[("authorization", f"Key={key}")], timeout=60
                )
            except grpc.aio.AioRpcError as error:
                codes.append(error.code())
                failed.append(batch)
                return
            if done is not None:
                done.append(batch)


async def test_sigkill_at_random_moments_under_load(tdb: TestDb, child: GrpcProcess) -> None:
    ids = await tdb.seed_many(6000)
    ledger = await Ledger.snapshot(tdb.db)
    key = await create_key(tdb.db, "6666")
    todo = deque(ids[i : i + 100] for i in range(0, len(ids), 100))
    failed: list[list[int]] = []
    codes: list[grpc.StatusCode] = []
    done: list[list[int]] = []
    chance = random.Random(4)
    for _cycle in range(3):
        clients = [
            asyncio.create_task(send_batches(child.port, key, todo, failed, codes, done))
            for _ in range(3)
        ]
        # A random moment counted in finished batches, not seconds: a fast server would
        # otherwise finish every batch before the kill, leaving nothing in flight to kill.
        target = len(done) + chance.randint(2, 8)
        await wait_until(lambda t=target: len(done) >= t, 30, f"{target} batches to be answered")
        # Not a wait for something: a random delay of up to 10 ms is the random moment.
        await asyncio.sleep(chance.uniform(0, 0.01))
        await child.kill()
        await asyncio.gather(*clients)
        await quiet(tdb)
        await assert_no_lead_lost(tdb.db, ledger)
        await child.start()
    assert codes and set(codes) == {grpc.StatusCode.UNAVAILABLE}, codes
    remaining = await tdb.rows(LEADS)
    left = [[i for i in batch if i in remaining] for batch in (*failed, *todo)]
    codes.clear()
    await send_batches(child.port, key, deque(b for b in left if b), [], codes)
    assert not codes, codes
    await assert_all_archived(tdb.db, ledger)
