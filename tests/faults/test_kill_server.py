"""kill -9 the gRPC server process in the middle of batches, start it again, lose nothing.

`lead-archive grpc` runs as a child process. Once, deterministically: a batch is held
half-way (another connection holds `LOCK TABLES vicidial_list READ`, so the batch's first
write to vicidial_list waits after the archive was written) and the process is killed
there. Then at random moments while three clients keep sending batches. Each time the
callers get a clear 500 (REST) or UNAVAILABLE (gRPC), the invariant holds for every lead,
and after a restart the same batches finish the job.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import httpx
import pytest
from lead_archive_rest_shim.main import create_app
from lead_archive_server.access.keys import create_key
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.e2e.conftest import ENDPOINT, full_request
from tests.invariant import Ledger, assert_all_archived, assert_no_lead_lost
from tests.processes import LEAD_ARCHIVE, environment, free_port
from tests.support import LEADS, TestDb

SHIM_DOWN = {"message": "archive service unavailable", "lead_errors": 0, "lead_ids": []}


class GrpcProcess:
    """`lead-archive grpc` as a child on a fixed port, to SIGKILL and start again."""

    def __init__(self, tdb: TestDb, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.env = environment(
            database_url=tdb.db.url.url(), grpc_port=str(port), office_hours="none"
        )
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                LEAD_ARCHIVE, "grpc", env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 60
        while "gRPC on" not in self.log.read_bytes()[offset:].decode(errors="replace"):
            assert self.process.returncode is None, self.log.read_text()[-2000:]
            assert time.monotonic() < deadline, "lead-archive grpc did not start"
            await asyncio.sleep(0.05)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL
        self.process = None

    async def stop(self) -> None:
        if self.process is not None:
            await self.kill()


@pytest.fixture
async def child(tdb: TestDb, tmp_path: Path) -> AsyncIterator[GrpcProcess]:
    process = GrpcProcess(tdb, free_port(), tmp_path / "grpc.log")
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


@asynccontextmanager
async def shim(port: int) -> AsyncIterator[httpx.AsyncClient]:
    """The REST shim in this process, in front of the child."""
    app = create_app(f"127.0.0.1:{port}")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://shim", timeout=120
        ) as http,
    ):
        yield http


async def others_running(tdb: TestDb, pattern: str = "%") -> list[int]:
    """Connections to the test database, other than the asking one, in the middle of a query."""
    rows = await tdb.fetch(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
        "AND COMMAND = 'Query' AND ID <> CONNECTION_ID() AND INFO LIKE %s",
        [pattern],
    )
    return [int(row[0]) for row in rows]


async def wait_until(condition, seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not await condition():  # noqa: ASYNC110 (polling the database)
            await asyncio.sleep(0.05)


async def quiet(tdb: TestDb) -> None:
    """Wait until statements the dead process had sent have ended (the server runs them out)."""
    await wait_until(lambda: _none_running(tdb))


async def _none_running(tdb: TestDb) -> bool:
    return not await others_running(tdb)


async def test_sigkill_while_a_batch_is_held_half_way(tdb: TestDb, child: GrpcProcess) -> None:
    ids = await tdb.seed_many(700)
    ledger = await Ledger.snapshot(tdb.db)
    key = await create_key(tdb.db, "6666")
    headers = {"Authorization": f"Key={key}"}
    batch = ids[:500]
    async with shim(child.port) as http:
        async with tdb.db.session() as blocker:
            await blocker.execute(f"LOCK TABLES {LEADS} READ")
            try:
                call = asyncio.create_task(
                    http.post(ENDPOINT, json=full_request(batch), headers=headers)
                )
                await wait_until(lambda: _writing(tdb))
                await child.kill()
                response = await call
            finally:
                await blocker.execute("UNLOCK TABLES")
        assert (response.status_code, response.json()) == (500, SHIM_DOWN)
        await quiet(tdb)
        where = await assert_no_lead_lost(tdb.db, ledger)
        if tdb.engine == "MyISAM":
            assert where.in_both | where.archived_only >= set(batch)  # the insert had run

        await child.start()
        # On MyISAM the DELETE the dead process had sent may still have run, once unblocked:
        # it compares before it deletes, so that is as safe as any other moment.
        for part in filter(None, (sorted(where.in_list & set(batch)), ids[500:])):
            response = await post_when_up(http, part, headers)
            assert response.json()["delete_count"] == len(part), response.text
    await assert_all_archived(tdb.db, ledger)


async def _writing(tdb: TestDb) -> bool:
    """The batch is stuck on its first write to vicidial_list (the archive was written)."""
    return bool(await others_running(tdb, "UPDATE%") + await others_running(tdb, "DELETE%"))


async def post_when_up(http: httpx.AsyncClient, lead_ids: list[int], headers) -> httpx.Response:
    """POST once the shim's channel has reconnected to the restarted server (bounded)."""
    async with asyncio.timeout(60):
        while True:
            response = await http.post(ENDPOINT, json=full_request(lead_ids), headers=headers)
            if response.json() != SHIM_DOWN:
                assert response.status_code == 200, response.text
                return response
            await asyncio.sleep(0.2)


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


async def _at_least(done: list[list[int]], count: int) -> bool:
    return len(done) >= count


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
        await wait_until(lambda target=target: _at_least(done, target))
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
