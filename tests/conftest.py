"""Shared fixtures: a real MariaDB database per storage engine, seeded with Vicidial's tables.

Set LEAD_ARCHIVE_TEST_DATABASE_URL (default mysql://root@127.0.0.1:3306) to use another server.
Each test run makes its own databases (la_test_<pid>_<engine>) and drops them at the end.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database
from lead_archive_server.core.tables import (
    drop_database,
    init_tables,
    recreate_database,
    vicidial_schema_statements,
)

from tests.support import ENGINES, SERVER_URL, SHAPES, TestDb


@asynccontextmanager
async def _made(shape: str) -> AsyncIterator[dict[str, TestDb]]:
    """One database per engine in the given table shape; dropped afterwards."""
    server = DatabaseUrl.parse(SERVER_URL)
    suffix = "" if shape == "utf8mb4" else f"_{shape}"
    made: dict[str, TestDb] = {}
    try:
        for engine in ENGINES:
            url = server.with_database(f"la_test_{os.getpid()}_{engine.lower()}{suffix}")
            await recreate_database(url)
            db = await Database.connect(url, pool_size=8)
            made[engine] = TestDb(db, engine, shape)
            await made[engine].create_vicidial_tables()
            await init_tables(db)
        yield made
    finally:
        for test_db in made.values():
            await test_db.db.close()
            await drop_database(test_db.db.url)


@pytest.fixture(scope="session")
async def databases() -> AsyncIterator[dict[str, TestDb]]:
    """One database per engine for the whole run, in the spec's shape."""
    async with _made("utf8mb4") as made:
        yield made


@pytest.fixture(scope="session")
async def vicidial_shaped_databases() -> AsyncIterator[dict[str, TestDb]]:
    """One database per engine in the shape Vicidial's install script gives (SHAPES)."""
    async with _made("vicidial") as made:
        yield made


@pytest.fixture(params=ENGINES)
async def tdb(request: pytest.FixtureRequest, databases: dict[str, TestDb]) -> TestDb:
    """A database on one engine with empty Vicidial tables (every test runs on both)."""
    test_db = databases[request.param]
    await test_db.reset()
    return test_db


@pytest.fixture(params=[(e, s) for s in SHAPES for e in ENGINES], ids="-".join)
async def shaped_tdb(
    request: pytest.FixtureRequest,
    databases: dict[str, TestDb],
    vicidial_shaped_databases: dict[str, TestDb],
) -> TestDb:
    """Like tdb, on both engines and in both table shapes (for the data and dialer tests)."""
    engine, shape = request.param
    test_db = (databases if shape == "utf8mb4" else vicidial_shaped_databases)[engine]
    await test_db.reset()
    return test_db


@pytest.fixture
async def log_table(tdb: TestDb) -> TestDb:
    """An empty vicidial_admin_log as Vicidial defines it (restored if a test broke it)."""
    await tdb.execute("DROP TABLE IF EXISTS vicidial_admin_log")
    for statement in vicidial_schema_statements():
        if "TABLE vicidial_admin_log" in statement:
            await tdb.execute(statement)  # always MyISAM, as on every Vicidial
    return tdb


@pytest.fixture
def schema_statements() -> list[str]:
    return vicidial_schema_statements()


def pytest_configure(config: Any) -> None:
    os.environ.setdefault("TZ", "UTC")
