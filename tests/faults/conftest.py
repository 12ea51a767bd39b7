"""Fault-test rigs: the whole stack in process (REST shim + gRPC + pool), a private MariaDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from lead_archive_rest_shim.main import create_app
from lead_archive_server.access.keys import create_key
from lead_archive_server.core.db import Database
from lead_archive_server.core.tables import init_tables, recreate_database
from lead_archive_server.runtime.app import create_server
from lead_archive_server.runtime.settings import Settings
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.e2e.conftest import Clock, Stack
from tests.private_mariadb import PrivateMariaDB, available
from tests.support import ENGINES, TestDb


@dataclass
class Service(Stack):
    """The stack of tests/e2e, plus a gRPC stub to the same server."""

    stub: pb_grpc.LeadArchiveServiceStub | None = None

    async def grpc_archive(self, lead_ids: list[int]) -> pb.ArchiveLeadsResponse:
        assert self.stub is not None
        request = pb.ArchiveLeadsRequest(
            insert_leads=True, update_leads=True, delete_leads=True, lead_ids=lead_ids
        )
        return await self.stub.ArchiveLeads(
            request, metadata=[("authorization", f"Key={self.key}")], timeout=60
        )


@asynccontextmanager
async def serving(tdb: TestDb) -> AsyncIterator[Service]:
    """gRPC server and REST shim in this process, over tdb's own pool."""
    settings = Settings(database_url=tdb.db.url.url(), office_hours="none", timezone="UTC")
    clock = Clock()
    server, port = create_server(settings, tdb.db, clock=clock, port=0)
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


@pytest.fixture
async def service(tdb: TestDb) -> AsyncIterator[Service]:
    async with serving(tdb) as rig:
        yield rig


@pytest.fixture(scope="session")
async def private_mariadb(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[PrivateMariaDB]:
    """A MariaDB of this test run alone, which tests may restart or kill."""
    reason = available()
    if reason:
        pytest.skip(f"no private MariaDB: {reason}")
    server = PrivateMariaDB(Path(tmp_path_factory.mktemp("mariadb")))
    await asyncio.to_thread(server.install)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        if server.process is not None:
            await asyncio.to_thread(server.stop)


@pytest.fixture(params=ENGINES)
async def private_tdb(
    request: pytest.FixtureRequest, private_mariadb: PrivateMariaDB
) -> AsyncIterator[TestDb]:
    """A fresh database on the private server, on one engine, with Vicidial's tables."""
    url = private_mariadb.url.with_database(f"faults_{request.param.lower()}")
    await recreate_database(url)
    db = await Database.connect(url, pool_size=8)
    tdb = TestDb(db, request.param)
    try:
        await tdb.create_vicidial_tables()
        await init_tables(db)
        yield tdb
    finally:
        await db.close()
