"""What runs around the archive service: request observation, the admin log, health, metrics.

``create_server`` makes one ``Operations`` per server. ``run`` also starts the database
watcher and, on shutdown, turns health to NOT_SERVING before the ports close; in-process
servers (tests) leave the watcher off and keep health SERVING.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from grpc_health.v1 import health
from lead_archive_client.vocabulary import SERVICE_NAME

from lead_archive_server.access.keys import KeyUses
from lead_archive_server.access.schedules import call_time_missing, office_hours_source
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import ArchiveError
from lead_archive_server.runtime.settings import Settings
from lead_archive_server.service import metrics
from lead_archive_server.service.access_log import AccessLog
from lead_archive_server.service.audit import AdminLog
from lead_archive_server.service.drain import DrainGate, Gate
from lead_archive_server.service.health import DatabaseWatcher
from lead_archive_server.service.observe import CallObserver
from lead_archive_server.service.reader import RequestReader

HEALTH_SERVICES = ("", SERVICE_NAME)
log = logging.getLogger(__name__)


class Operations:
    """The interceptors, the admin log, the health service and its database watcher, and
    the keys' last use (written in the background)."""

    def __init__(self, settings: Settings, db: Database) -> None:
        server = settings.server
        self.health = health.aio.HealthServicer()
        self.admin_log = AdminLog(db, enabled=server.audit, timeout_s=server.audit_timeout_s)
        self.gate = Gate()
        self.reader = RequestReader()
        self.drain_gate = DrainGate(self.gate)
        # The audit row is written by each batch (see service.audit); calls end with these.
        listeners = (AccessLog(), metrics.CallMetrics())
        self.observer = CallObserver(listeners, server.trusted_proxies, self.gate)
        # Where office hours come from (the settings, a call time, or the dialer itself).
        office = server.office
        self.office_hours = office_hours_source(office, db)

        async def call_time_readable() -> str | None:
            return await call_time_missing(db, office.call_time_id, office.names.call_time_id)

        self.watcher = DatabaseWatcher(
            db,
            self.health,
            HEALTH_SERVICES,
            interval_s=server.health_interval_s,
            readiness=call_time_readable if office.call_time_id else None,
        )
        metrics.POOLS.watch(db, server.pool_size)
        self._db = db
        self.key_uses = KeyUses()
        self._key_use_flush_s = server.key_use_flush_s
        self._flushing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Check the database now, then keep checking in the background; write the keys'
        last use every key_use_flush_s."""
        await self.watcher.check()
        self.watcher.start()
        self._flushing = asyncio.create_task(
            self.key_uses.flush_every(self._db, self._key_use_flush_s)
        )

    async def drain(self) -> None:
        """Shutting down: NOT_SERVING from now on, and new calls refused (see Gate)."""
        self.gate.draining = True
        await self.health.enter_graceful_shutdown()

    async def stop(self) -> None:
        """Stop the watcher; let batches whose callers left finish and be audited."""
        await self.observer.settle()
        await self.watcher.stop()
        await self._last_flush()
        await self.office_hours.close()

    async def _last_flush(self) -> None:
        """Stop the background flush and write what it has not written yet."""
        if self._flushing is None:
            return
        self._flushing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._flushing
        self._flushing = None
        try:
            await self.key_uses.flush(self._db)
        except ArchiveError as error:
            log.warning("keys' last use not written at shutdown: %s", error)
