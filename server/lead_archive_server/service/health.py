"""The gRPC health service follows the database: NOT_SERVING while it cannot be reached.

A watcher pings the database every LEAD_ARCHIVE_HEALTH_INTERVAL_S seconds and sets the
status of the whole server ("") and of LeadArchiveService. On shutdown every status turns
NOT_SERVING for good, so load balancers stop sending work before the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from grpc_health.v1 import health, health_pb2

from lead_archive_server.core import sql
from lead_archive_server.core.db import Database
from lead_archive_server.service import metrics

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# A ping slower than this counts as a database that cannot be reached.
PING_TIMEOUT_S = 5.0


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
    ) -> None:
        self._db = db
        self._health = health_servicer
        self._services = services
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self.up: bool | None = None

    async def check(self) -> bool:
        """Ping once and publish the result; log only changes."""
        up = await ping(self._db, min(PING_TIMEOUT_S, max(self._interval_s, 1.0)))
        if up != self.up:
            if up:
                log.info("database reachable: serving")
            else:
                log.warning("database unreachable: health is NOT_SERVING until it answers")
        self.up = up
        metrics.DATABASE_UP.set(1 if up else 0)
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
