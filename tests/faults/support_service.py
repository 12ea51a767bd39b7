"""The stack the fault tests drive (shim + gRPC + pool, its pool through the wire proxy)
and `lead-archive grpc` as a child process; the fixtures in conftest.py build them."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from lead_archive_rest_shim.main import create_app
from lead_archive_server.access.keys import create_key
from lead_archive_server.core.db import Database
from lead_archive_server.runtime.app import create_server
from lead_archive_server.runtime.settings import Settings
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.faults.wire import WireProxy
from tests.processes import LEAD_ARCHIVE, environment
from tests.support import TestDb, wait_until
from tests.support_shim import Clock, Stack


@dataclass
class Service(Stack):
    """The stack of tests/e2e, plus a gRPC stub to the same server, and the proxy its pool
    connects through (tdb.db reaches the database directly, for the test's own reads)."""

    stub: pb_grpc.LeadArchiveServiceStub | None = None
    wire: WireProxy | None = None

    @property
    def proxy(self) -> WireProxy:
        assert self.wire is not None
        return self.wire

    async def grpc_archive(self, lead_ids: list[int]) -> pb.ArchiveLeadsResponse:
        assert self.stub is not None
        request = pb.ArchiveLeadsRequest(
            insert_leads=True, update_leads=True, delete_leads=True, lead_ids=lead_ids
        )
        return await self.stub.ArchiveLeads(
            request, metadata=[("authorization", f"Key={self.key}")], timeout=60
        )


@asynccontextmanager
async def serving(tdb: TestDb, db: Database | None = None) -> AsyncIterator[Service]:
    """gRPC server and REST shim in this process, over `db` (tdb's own pool by default)."""
    db = db or tdb.db
    settings = Settings(
        database_url=db.url.url(),
        office_hours="none",
        timezone="UTC",
        batch_locks=tdb.batch_locks,
    )
    clock = Clock()
    server, port = create_server(settings, db, clock=clock, port=0)
    await server.start()
    app = create_app(f"127.0.0.1:{port}")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://shim", timeout=120
            ) as http,
        ):
            key = await create_key(tdb.db, "6666")
            headers = {"Authorization": f"Key={key}", "Content-Type": "application/json"}
            yield Service(http, key, clock, tdb, headers, pb_grpc.LeadArchiveServiceStub(channel))
    finally:
        await channel.close()
        await server.stop(None)


class GrpcProcess:
    """`lead-archive grpc` as a child on a fixed port, to SIGKILL and start again."""

    def __init__(self, database_url: str, port: int, log: Path, *, batch_locks: str) -> None:
        self.port, self.log = port, log
        self.env = environment(
            database_url=database_url,
            grpc_port=str(port),
            office_hours="none",
            batch_locks=batch_locks,
        )
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                LEAD_ARCHIVE, "grpc", env=self.env, stdout=log, stderr=log
            )
        process = self.process

        def started() -> bool:
            assert process.returncode is None, self.log.read_text()[-2000:]
            return "gRPC on" in self.log.read_bytes()[offset:].decode(errors="replace")

        await wait_until(started, 60, "lead-archive grpc to start", every=0.05)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL
        self.process = None

    async def stop(self) -> None:
        if self.process is not None:
            await self.kill()
