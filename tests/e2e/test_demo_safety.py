"""`lead-archive demo` resets only databases it made, and never the configured one unasked."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import AsyncIterator

import pytest
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database
from lead_archive_server.core.tables import drop_database

from tests.processes import LEAD_ARCHIVE, environment, free_port, read_until, running
from tests.support import SERVER_URL

SERVER = DatabaseUrl.parse(SERVER_URL)


@pytest.fixture
async def names() -> AsyncIterator[list[str]]:
    """Database names for one test, dropped afterwards."""
    made: list[str] = []
    yield made
    for name in made:
        await drop_database(SERVER.with_database(name))


async def _sql(*statements: str) -> list[tuple[object, ...]]:
    db = await Database.connect(SERVER.with_database(""), pool_size=1)
    try:
        async with db.session() as session:
            rows: list[tuple[object, ...]] = []
            for statement in statements:
                if statement.startswith(("SHOW", "SELECT")):
                    rows = [tuple(r) for r in await session.fetch_all(statement)]
                else:
                    await session.execute(statement)
            return rows
    finally:
        await db.close()


def _demo(database: str, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the demo where it must refuse before serving (a short timeout guards a hang)."""
    values = {"database_url": SERVER.with_database("unused").url()} | env
    return subprocess.run(
        [LEAD_ARCHIVE, "demo", "--database", database, *extra],
        env=environment(grpc_port=str(free_port()), http_port=str(free_port()), **values),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_demo_refuses_a_database_it_did_not_make(names: list[str]) -> None:
    name = f"la_test_foreign_{os.getpid()}"
    names.append(name)
    await _sql(
        f"CREATE DATABASE {name}",
        f"CREATE TABLE {name}.customers (id INT)",
        f"INSERT INTO {name}.customers VALUES (1)",
    )
    result = _demo(name)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"lead-archive: database {name!r} exists and was not made by the demo; refusing to "
        "reset it (choose another --database)"
    ]
    assert await _sql(f"SELECT COUNT(*) FROM {name}.customers") == [(1,)]


async def test_demo_leaves_the_configured_database_alone_without_the_flag(
    names: list[str],
) -> None:
    name = f"la_test_configured_{os.getpid()}"
    names.append(name)
    await _sql(f"CREATE DATABASE {name}", f"CREATE TABLE {name}.vicidial_list (lead_id INT)")
    result = _demo(name, database_url=SERVER.with_database(name).url())
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"lead-archive: database {name!r} is the one LEAD_ARCHIVE_DATABASE_URL names; the demo "
        "leaves it alone (add --reset-configured-database to reset it when the demo made it)"
    ]
    # Even with the flag, a database the demo did not make is refused.
    flagged = _demo(
        name, "--reset-configured-database", database_url=SERVER.with_database(name).url()
    )
    assert flagged.returncode == 1
    assert "was not made by the demo" in flagged.stderr
    assert await _sql(f"SHOW TABLES FROM {name}") == [("vicidial_list",)]


async def test_demo_first_run_is_quiet_and_prints_a_url_the_other_commands_use(
    names: list[str],
) -> None:
    name = f"la_test_demo_url_{os.getpid()}"
    names.append(name)
    await drop_database(SERVER.with_database(name))
    env = environment(
        database_url=SERVER.with_database("unused").url(),
        grpc_port=str(free_port()),
        http_port=str(free_port()),
    )
    for run in ("first", "second"):  # the second run resets the database the first made
        async with running("demo", "--database", name, env=env) as demo:
            printed = await read_until(demo.stdout, r"Ctrl-C|curl -k")
            exported = re.search(r"export LEAD_ARCHIVE_DATABASE_URL='([^']+)'", printed)
            assert exported is not None, printed
            dry_run = await asyncio.create_subprocess_exec(
                *(LEAD_ARCHIVE, "archive", "--dry-run", "--list-id", "9999"),
                env=environment(database_url=exported.group(1)),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            said = (await asyncio.wait_for(dry_run.communicate(), 60))[0].decode()
            assert dry_run.returncode == 0, said
            assert "500" in said
        stderr = (await demo.stderr.read()).decode()
        assert "Warning" not in stderr, (run, stderr)
