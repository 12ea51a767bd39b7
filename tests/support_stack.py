"""The real stack on loopback ports for the clients: gRPC server and REST shim, restartable
(the fixtures over it are in tests/clients/conftest.py).

Both run in the test's event loop; the sync clients are driven from a worker thread
(``asyncio.to_thread``) so that the loop keeps serving while they block.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Generator, Iterable
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
import uvicorn
from lead_archive_client import (
    ArchiveResult,
    AsyncLeadArchiveClient,
    AsyncRestLeadArchiveClient,
    LeadArchiveClient,
    LeadArchiveError,
    RestLeadArchiveClient,
    RestoreResult,
    RetryPolicy,
)
from lead_archive_rest_shim.main import create_app
from lead_archive_server.access.keys import create_key
from lead_archive_server.runtime.app import create_server
from lead_archive_server.runtime.settings import Settings

from tests.support import TestDb, wait_until
from tests.support_shim import Clock

FLAVOURS = ("grpc", "grpc-async", "rest", "rest-async")
GRPC_FLAVOURS = ("grpc", "grpc-async")
REST_FLAVOURS = ("rest", "rest-async")
QUICK_RETRY = RetryPolicy(deadline=2.0, initial_backoff=0.05, max_backoff=0.2)


class _QuietUvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers, which would take the test's Ctrl-C."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bound_socket(port: int = 0) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@dataclass
class Stack:
    """gRPC server and REST shim over one test database; each can be stopped and restarted."""

    tdb: TestDb
    key: str
    clock: Clock
    settings: Settings
    grpc_port: int = 0
    http_port: int = 0
    _grpc: grpc.aio.Server | None = None
    _web: uvicorn.Server | None = None
    _web_task: asyncio.Task[None] | None = None
    callers: list[Caller] = field(default_factory=list)

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    async def start_grpc(self) -> None:
        self._grpc, self.grpc_port = create_server(
            self.settings, self.tdb.db, clock=self.clock, port=self.grpc_port
        )
        await self._grpc.start()

    async def stop_grpc(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop(None)
            self._grpc = None

    async def start_rest(self) -> None:
        sock = bound_socket(self.http_port)
        self.http_port = sock.getsockname()[1]
        app = create_app(self.grpc_target)
        web = self._web = _QuietUvicorn(uvicorn.Config(app, log_level="warning", lifespan="on"))
        task = self._web_task = asyncio.create_task(web.serve(sockets=[sock]))

        def started() -> bool:  # uvicorn offers only a flag
            if task.done():
                task.result()  # it ended at once: its error, not a wait until the deadline
            return web.started

        await wait_until(started, 30, "uvicorn to start", every=0.01)

    async def stop_rest(self) -> None:
        if self._web is not None and self._web_task is not None:
            self._web.should_exit = True
            await self._web_task
            self._web = self._web_task = None

    def caller(self, flavour: str, **options: Any) -> Caller:
        options = {"timeout": 10.0, "retry": QUICK_RETRY} | options
        api_key = options.pop("api_key", self.key)
        made = Caller.make(flavour, self, api_key, **options)
        self.callers.append(made)
        return made


@dataclass
class Caller:
    """One flavour of the client behind one async interface (sync ones run in a thread)."""

    flavour: str
    client: Any

    @classmethod
    def make(cls, flavour: str, stack: Stack, api_key: str, **options: Any) -> Caller:
        kinds = {
            "grpc": (LeadArchiveClient, stack.grpc_target),
            "grpc-async": (AsyncLeadArchiveClient, stack.grpc_target),
            "rest": (RestLeadArchiveClient, stack.rest_url),
            "rest-async": (AsyncRestLeadArchiveClient, stack.rest_url),
        }
        kind, where = kinds[flavour]
        return cls(flavour, kind(where, api_key, **options))

    @property
    def is_async(self) -> bool:
        return self.flavour.endswith("-async")

    async def archive(self, lead_ids: Iterable[int], **flags: bool) -> ArchiveResult:
        if self.is_async:
            return await self.client.archive(lead_ids, **flags)
        return await asyncio.to_thread(self.client.archive, lead_ids, **flags)

    async def restore(self, lead_ids: Iterable[int]) -> RestoreResult:
        if self.is_async:
            return await self.client.restore(lead_ids)
        return await asyncio.to_thread(self.client.restore, lead_ids)

    async def close(self) -> None:
        if self.is_async:
            await self.client.close()
        else:
            await asyncio.to_thread(self.client.close)


@asynccontextmanager
async def running_stack(tdb: TestDb, *, rest: bool = True, **settings: Any) -> AsyncIterator[Stack]:
    """Start gRPC (and the shim, unless ``rest=False``) with these settings over the defaults."""
    defaults = {
        "database_url": tdb.db.url.url(),
        "office_hours": "mon-fri 08:00-18:00",
        "timezone": "UTC",
    }
    stack = Stack(tdb, await create_key(tdb.db, "6666"), Clock(), Settings(**defaults | settings))
    await stack.start_grpc()
    if rest:
        await stack.start_rest()
    try:
        yield stack
    finally:
        for caller in stack.callers:
            await caller.close()
        await stack.stop_rest()
        await stack.stop_grpc()


@asynccontextmanager
async def batch_lock_held(tdb: TestDb) -> AsyncIterator[None]:
    """Hold the server's per-database batch lock, so that batches wait (and time out)."""
    async with tdb.db.session() as session:
        got = await session.fetch_all("SELECT GET_LOCK(CONCAT('lead_archive:', DATABASE()), 5)")
        assert got[0][0] == 1
        try:
            yield
        finally:
            await session.fetch_all("SELECT RELEASE_LOCK(CONCAT('lead_archive:', DATABASE()))")


async def expect(
    stack: Stack, call, kind: type[LeadArchiveError], message: str, lead_ids=()
) -> LeadArchiveError:
    """The call raises exactly ``kind`` with the documented fields, and changes nothing."""
    before = await stack.tdb.snapshot()
    with pytest.raises(LeadArchiveError) as raised:
        await call
    error = raised.value
    assert type(error) is kind, error
    assert (error.message, error.lead_errors, error.lead_ids) == (
        message,
        len(lead_ids),
        tuple(lead_ids),
    )
    assert str(error) == message
    assert await stack.tdb.snapshot() == before
    return error
