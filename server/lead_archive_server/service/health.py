"""The gRPC health service follows the database: NOT_SERVING while it cannot be reached.

A watcher pings the database every LEAD_ARCHIVE_HEALTH_INTERVAL_S seconds and sets the
status of the whole server ("") and of LeadArchiveService. A further check (the call time
of LEAD_ARCHIVE_CALL_TIME_ID still there) can hold it NOT_SERVING too; /readyz follows.
On shutdown every status turns NOT_SERVING for good, so load balancers stop sending work
before the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from grpc_health.v1 import health, health_pb2

from lead_archive_server.core import sql
from lead_archive_server.core.db import Database
from lead_archive_server.service import metrics

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# A ping slower than this counts as a database that cannot be reached.
PING_TIMEOUT_S = 5.0
# A check beside the ping: why the service cannot serve (one line), or None when it can.
ReadinessCheck = Callable[[], Awaitable[str | None]]


async def ping(db: Database, timeout_s: float = PING_TIMEOUT_S) -> bool:
    """Whether the database answers a trivial query in time."""
    try:
        async with asyncio.timeout(timeout_s), db.session() as session:
            await session.fetch_all(sql.PING)
    except Exception:
        return False
    return True


class DatabaseWatcher:
    """Pings the database on a timer and reports the result through the health service."""

    def __init__(
        self,
        db: Database,
        health_servicer: health.aio.HealthServicer,
        services: tuple[str, ...],
        *,
        interval_s: float = 5.0,
        readiness: ReadinessCheck | None = None,
    ) -> None:
        self._db = db
        self._readiness = readiness
        self.reason: str | None = None  # why not serving, while it is not
        self._health = health_servicer
        self._services = services
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self.up: bool | None = None

    async def check(self) -> bool:
        """Ping once (and run the readiness check), publish the result; log only changes."""
        reachable = await ping(self._db, min(PING_TIMEOUT_S, max(self._interval_s, 1.0)))
        metrics.DATABASE_UP.set(1 if reachable else 0)
        reason = None if reachable else "database unreachable"
        if reason is None and self._readiness is not None:
            try:
                reason = await self._readiness()
            except Exception as error:  # a failing check must not stop the watcher
                reason = f"readiness check failed: {type(error).__name__}"
        up = reason is None
        if up != self.up or reason != self.reason:
            if up:
                log.info("database reachable: serving")
            else:
                log.warning("%s: health is NOT_SERVING until this clears", reason)
        self.up, self.reason = up, reason
        for service in self._services:
            await self._health.set(service, SERVING if up else NOT_SERVING)
        return up

    def start(self) -> None:
        """Begin watching in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="database-watcher")

    async def _watch(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self._interval_s)

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
