"""Fixtures of the end-to-end tests: the whole stack in one process (tests/support_shim.py),
the real stack on loopback ports for the console script (tests/support_stack.py), and
`lead-archive serve` as a process for the OpenAPI fuzz tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from lead_archive_server.access.keys import create_key

from tests.e2e.fuzz_support import Served
from tests.processes import serve_environment, serving
from tests.support import TestDb
from tests.support_shim import Stack, in_process_stack
from tests.support_stack import Stack as LiveStack
from tests.support_stack import running_stack


@pytest.fixture
async def stack(tdb: TestDb) -> AsyncIterator[Stack]:
    async with (
        in_process_stack(tdb) as (app, clock),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shim") as http,
    ):
        key = await create_key(tdb.db, "6666")
        headers = {"Authorization": f"Key={key}", "Content-Type": "application/json"}
        yield Stack(http, key, clock, tdb, headers)


@pytest.fixture
async def served(tdb: TestDb) -> AsyncIterator[LiveStack]:
    """gRPC server and shim on loopback ports, for the console script in its own process."""
    async with running_stack(tdb) as stack:
        yield stack


@pytest.fixture
async def serve_process(tdb: TestDb, tmp_path: Path) -> AsyncIterator[Served]:
    """`lead-archive serve` in its own process over 30 leads, with a key, for schemathesis."""
    await tdb.seed_many(30)
    key = await create_key(tdb.db, "6666")
    env, _, http_port = serve_environment(tdb.db.url.url())
    async with serving(env, tmp_path / "serve.log"):
        yield Served(f"http://127.0.0.1:{http_port}", key, tdb.db.url)
