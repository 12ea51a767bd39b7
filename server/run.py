"""Run the processes: gRPC alone, the REST shim alone, or both in one event loop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Generator
from contextlib import contextmanager

import uvicorn

from rest_shim.main import create_app
from server.app import create_server
from server.db import Database
from server.settings import Settings

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 30.0
OnReady = Callable[[int, int | None], None]


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: this module decides when to stop."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _rest_server(settings: Settings, upstream: str) -> _Uvicorn:
    config = uvicorn.Config(
        create_app(upstream),
        host=settings.http_host,
        port=settings.http_port,
        log_level="info",
        access_log=False,
    )
    return _Uvicorn(config)


async def run_grpc(settings: Settings, *, on_ready: OnReady | None = None) -> None:
    """Serve gRPC until SIGINT/SIGTERM, letting calls in flight finish."""
    await run(settings, rest=False, on_ready=on_ready)


async def run_rest(settings: Settings, upstream: str) -> None:
    """Serve the REST shim against a gRPC upstream until SIGINT/SIGTERM."""
    web = _rest_server(settings, upstream)
    serving = asyncio.create_task(web.serve())
    await _first_of(_shutdown_signal(), serving)
    web.should_exit = True
    await serving


async def run(settings: Settings, *, rest: bool = True, on_ready: OnReady | None = None) -> None:
    """Serve gRPC (and the REST shim in front of it) until SIGINT/SIGTERM."""
    db = await Database.connect(settings.database, pool_size=settings.pool_size)
    try:
        server, grpc_port = create_server(settings, db)
        await server.start()
        log.info("gRPC listening on %s:%d", settings.grpc_host, grpc_port)
        web = _rest_server(settings, f"127.0.0.1:{grpc_port}") if rest else None
        serving = asyncio.create_task(web.serve()) if web else None
        if on_ready is not None:
            await _until_started(web)
            on_ready(grpc_port, settings.http_port if web else None)
        await _first_of(_shutdown_signal(), serving)
        if web is not None and serving is not None:
            web.should_exit = True
            await serving
        await server.stop(SHUTDOWN_GRACE_S)
    finally:
        await db.close()


async def _until_started(web: _Uvicorn | None) -> None:
    while web is not None and not web.started:  # noqa: ASYNC110 (uvicorn offers only a flag)
        await asyncio.sleep(0.05)


async def _first_of(*awaitables: asyncio.Future[None] | asyncio.Task[None] | None) -> None:
    """Wait until the first of the given tasks ends (a signal, or a server that stopped)."""
    tasks = [asyncio.ensure_future(a) for a in awaitables if a is not None]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)


def _shutdown_signal() -> asyncio.Future[None]:
    """A future that completes on the first SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[None] = loop.create_future()

    def stop() -> None:
        if not stopped.done():
            log.info("shutting down: finishing requests in flight")
            stopped.set_result(None)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    return stopped
