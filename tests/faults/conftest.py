"""Fault-test rigs: the whole stack in process (REST shim + gRPC + pool), its pool through
the wire proxy (tests/faults/wire.py), and a private MariaDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from lead_archive_server.core.db import Database
from lead_archive_server.core.tables import init_tables, recreate_database

from tests.faults.support_service import GrpcProcess, Service, serving
from tests.faults.wire import HOLDS, WireProxy, holds_installed
from tests.private_mariadb import PrivateMariaDB, available
from tests.processes import free_port
from tests.support import TestDb

# Every fault test runs on both engines under the database's lock and under range locks
# (LEAD_ARCHIVE_BATCH_LOCKS=ranges), where batches on other ranges run side by side (on
# MyISAM its table locks still take their statements in turn).
MODES = {
    "MyISAM": ("MyISAM", False),
    "InnoDB": ("InnoDB", False),
    "InnoDB-ranges": ("InnoDB", True),
    "MyISAM-ranges": ("MyISAM", True),
}


@pytest.fixture(params=list(MODES))
async def tdb(request: pytest.FixtureRequest, databases: dict[str, TestDb]) -> TestDb:
    """A database on one engine with empty Vicidial tables, its batches in one of the MODES."""
    engine, range_locks = MODES[request.param]
    test_db = databases[engine]
    await test_db.reset()
    return replace(test_db, range_locks=range_locks)


@pytest.fixture
async def wire(tdb: TestDb) -> AsyncIterator[WireProxy]:
    """The wire proxy in front of tdb's database."""
    async with WireProxy.running(tdb.db) as proxy:
        yield proxy


@pytest.fixture
async def holds(tdb: TestDb) -> AsyncIterator[None]:
    """The holds' triggers (wire.HOLDS) on tdb's tables, idle until a test takes a hold."""
    async with holds_installed(tdb.db, HOLDS):
        yield


@pytest.fixture
async def service(tdb: TestDb, wire: WireProxy) -> AsyncIterator[Service]:
    """The stack, its pool connected through the wire proxy."""
    db = await Database.connect(wire.url, pool_size=8)
    try:
        async with serving(tdb, db) as rig:
            rig.wire = wire
            yield rig
    finally:
        await db.close()


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


@pytest.fixture(params=list(MODES))
async def private_tdb(
    request: pytest.FixtureRequest, private_mariadb: PrivateMariaDB
) -> AsyncIterator[TestDb]:
    """A fresh database on the private server with Vicidial's tables, in one of the MODES."""
    engine, range_locks = MODES[request.param]
    name = request.param.lower().replace("-", "_")
    url = private_mariadb.url.with_database(f"faults_{name}")
    await recreate_database(url)
    db = await Database.connect(url, pool_size=8)
    tdb = TestDb(db, engine, range_locks=range_locks)
    try:
        await tdb.create_vicidial_tables()
        await init_tables(db)
        yield tdb
    finally:
        await db.close()


@pytest.fixture
async def child(tdb: TestDb, wire: WireProxy, tmp_path: Path) -> AsyncIterator[GrpcProcess]:
    """`lead-archive grpc` on tdb's database, its pool connected through the wire proxy."""
    process = GrpcProcess(
        wire.url.url(), free_port(), tmp_path / "grpc.log", batch_locks=tdb.batch_locks
    )
    await process.start()
    try:
        yield process
    finally:
        await process.stop()
