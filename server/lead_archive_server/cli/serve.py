"""Run the processes: gRPC alone, the REST shim alone, or both in one event loop."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable, Generator
from contextlib import contextmanager

import uvicorn
from lead_archive_rest_shim.main import create_app
from lead_archive_rest_shim.upstream import UpstreamTls

from lead_archive_server.access.keys import (
    expiry_warning,
    keys_expiring,
    require_current_key_table,
)
from lead_archive_server.cli import upstream_tls as tls
from lead_archive_server.cli.http_limits import HttpLimits, bounded_protocol
from lead_archive_server.core.db import Database
from lead_archive_server.runtime.app import create_server
from lead_archive_server.runtime.open_files import raise_open_files_limit
from lead_archive_server.runtime.ops import Operations
from lead_archive_server.runtime.ports import PortUnavailable, bind_tcp
from lead_archive_server.runtime.settings import Settings, env_name
from lead_archive_server.service.metrics import MetricsServer, MetricsUnavailable

log = logging.getLogger(__name__)

OnReady = Callable[[int, int | None], None]


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: this module decides when to stop."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _rest_server(
    settings: Settings,
    upstream: str,
    upstream_tls: UpstreamTls | None,
    upstream_metadata: tuple[tuple[str, str], ...] = (),
    *,
    in_process_grpc: bool = False,
) -> _Uvicorn:
    http = settings.http
    cert, key = http.tls or (None, None)
    config = uvicorn.Config(
        create_app(
            upstream,
            upstream_tls=upstream_tls,
            upstream_metadata=upstream_metadata,
            trusted_proxies=http.trusted_proxies,
            server_metrics=in_process_grpc,
            upstream_max_calls=settings.grpc.max_concurrent_streams,
        ),
        host=http.host,
        port=http.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # logs go through server.logs, in the format chosen
        access_log=False,  # the shim writes its own line per request
        ssl_certfile=cert,
        ssl_keyfile=key,
        # The shim reads X-Forwarded-For itself, from the trusted proxies only.
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.server.shutdown_grace_s) or None,
        http=bounded_protocol(
            HttpLimits(
                max_header_bytes=http.max_header_bytes,
                max_headers=http.max_headers,
                header_timeout_s=http.header_timeout_s,
                max_connections=http.max_connections,
                request_timeout_s=http.request_timeout_s,
                max_connections_per_client=http.max_connections_per_client,
                trusted_proxies=http.trusted_proxies,
            )
        ),
        timeout_keep_alive=http.keep_alive_s,
    )
    return _Uvicorn(config)


def _local_upstream(settings: Settings, grpc_port: int) -> tuple[str, UpstreamTls | None]:
    """Where the shim of `serve` reaches the gRPC server of the same process, and how."""
    pair = settings.grpc.tls
    local_tls = tls.local_upstream_tls(settings.http, pair[0]) if pair else None
    return settings.grpc.local_target(grpc_port), local_tls


async def run_grpc(settings: Settings, *, on_ready: OnReady | None = None) -> None:
    """Serve gRPC until SIGINT/SIGTERM, letting calls in flight finish."""
    await run(settings, rest=False, on_ready=on_ready)


def _http_sockets(settings: Settings) -> list[socket.socket]:
    """The REST port, bound before anything listens (PortUnavailable names a taken one)."""
    return bind_tcp(settings.http.host, settings.http.port, env_name("http_port"))


async def run_rest(settings: Settings, upstream: str, *, upstream_tls: bool = False) -> None:
    """Serve the REST shim against a gRPC upstream until SIGINT/SIGTERM."""
    stop = _shutdown_signal()
    open_files = raise_open_files_limit()
    sockets = _http_sockets(settings)
    log.info(
        "REST shim for %s on %s:%d; %s",
        upstream,
        settings.http.host,
        settings.http.port,
        open_files,
    )
    web = _rest_server(
        settings, upstream, tls.upstream_tls(settings.http) if upstream_tls else None
    )
    serving = asyncio.create_task(web.serve(sockets))
    await _first_of(stop, serving)
    web.should_exit = True
    await serving


async def run(settings: Settings, *, rest: bool = True, on_ready: OnReady | None = None) -> None:
    """Serve gRPC (and the REST shim in front of it) until SIGINT/SIGTERM."""
    stop = _shutdown_signal()  # before any port opens: a signal from then on stops cleanly
    open_files = raise_open_files_limit()  # before the first connection is accepted
    server_settings = settings.server
    db = await Database.connect(server_settings.database, pool_size=server_settings.pool_size)
    ops = Operations(settings, db)
    exporter: MetricsServer | None = None
    sockets: list[socket.socket] = []
    try:
        # An older key table would refuse every key: stop now, saying how to upgrade it.
        await require_current_key_table(db)
        # Office hours read once: a call time or dialer table missing stops start-up.
        warnings = await ops.office_hours.start()
        warnings += [expiry_warning(key) for key in await keys_expiring(db)]
        sockets = _http_sockets(settings) if rest else []
        server, grpc_port = create_server(settings, db, ops=ops)
        await server.start()
        await ops.start()
        log.info("gRPC listening on %s:%d; %s", settings.grpc.host, grpc_port, open_files)
        log.info("office hours: %s", ops.office_hours.describe())
        for warning in warnings:
            log.warning("%s", warning)
        if server_settings.metrics_port:
            exporter = metrics_server(server_settings.metrics_host, server_settings.metrics_port)
            log.info("metrics on http://%s:%d/metrics", exporter.host, exporter.port)
        web = None
        if rest:
            target, local_tls = _local_upstream(settings, grpc_port)
            web = _rest_server(settings, target, local_tls, ops.gate.metadata, in_process_grpc=True)
        serving = asyncio.create_task(web.serve(sockets)) if web else None
        if on_ready is not None:
            await _until_started(web)
            on_ready(grpc_port, int(sockets[0].getsockname()[1]) if web else None)
        await _first_of(stop, serving)
        # Not ready from now on; the REST port closes, then gRPC, each after its calls end.
        await ops.drain()
        if web is not None and serving is not None:
            web.should_exit = True
            await serving
        await server.stop(server_settings.shutdown_grace_s)
        log.info("stopped")
    finally:
        for sock in sockets:
            sock.close()
        await ops.stop()
        if exporter is not None:
            exporter.close()
        await db.close()


def metrics_server(host: str, port: int) -> MetricsServer:
    """The metrics endpoint, or PortUnavailable naming its setting."""
    try:
        return MetricsServer(host, port)
    except MetricsUnavailable as error:
        raise PortUnavailable(f"{env_name('metrics_port')}: {error}") from None


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
