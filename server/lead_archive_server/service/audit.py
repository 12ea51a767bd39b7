"""Audit in Vicidial: one vicidial_admin_log row per batch that changed data.

The row shows up in Vicidial's Admin Change Log like the admin pages' own LEADS events:
``user`` the API user, ``ip_address`` the client, ``event_section`` LEADS, ``event_type``
DELETE (the batch removed leads from vicidial_list) or MODIFY (it only wrote the archive),
``record_id`` the request id (also in the service's log line and the X-Request-Id header),
``event_code`` ARCHIVE_EVENT_CODE, ``event_sql`` the statements in outline, ``event_notes``
the counts and the lead IDs.

It is written after the batch committed, in its own statement, within a time limit; an
error or a timeout is logged and counted, never passed to the caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from lead_archive_client.vocabulary import GRPC_COUNT_FIELDS
from vicidial.leads.v1 import lead_archive_pb2 as pb

from lead_archive_server.core import sql
from lead_archive_server.core.db import Database, Session
from lead_archive_server.service import metrics
from lead_archive_server.service.callers import admin_log_address
from lead_archive_server.service.calls import EndedCall

log = logging.getLogger(__name__)

ARCHIVE_EVENT_CODE = "LEAD ARCHIVE API ARCHIVE LEADS"
RESTORE_EVENT_CODE = "LEAD ARCHIVE API RESTORE LEADS"
# How long to trust a look at information_schema for the table before looking again.
TABLE_RECHECK_S = 60.0


@dataclass(frozen=True)
class AuditEntry:
    """One successful batch: who, from where, what was asked, what changed."""

    request_id: str
    api_user: str
    client_ip: str
    lead_ids: Sequence[int]
    insert: bool
    update: bool
    delete: bool
    select_count: int
    insert_count: int
    update_count: int
    delete_count: int
    kept_count: int
    # A restore batch (RESTORE_EVENT_CODE): insert_count is rows added to vicidial_list,
    # delete_count rows removed from the archive; there is no update.
    restore: bool = False

    @property
    def changed(self) -> bool:
        """Whether the batch wrote anything (only then is it audited)."""
        return bool(self.insert_count or self.update_count or self.delete_count)

    def row(self) -> tuple[object, ...]:
        """The values of sql.INSERT_ADMIN_LOG, in order."""
        address = admin_log_address(self.client_ip)
        notes = [
            f"select_count: {self.select_count}",
            f"insert_count: {self.insert_count}",
            *([] if self.restore else [f"update_count: {self.update_count}"]),
            f"delete_count: {self.delete_count}",
            f"kept_count: {self.kept_count}",
            "lead_ids: " + ",".join(str(lead_id) for lead_id in self.lead_ids),
        ]
        if address.truncated:
            notes.append(f"client_ip: {address.full}")
        return (
            self.api_user,
            address.column,
            self._event_type(),
            self.request_id,
            RESTORE_EVENT_CODE if self.restore else ARCHIVE_EVENT_CODE,
            sql.restore_outline(self.lead_ids)
            if self.restore
            else sql.audit_outline(self.lead_ids, self.insert, self.update, self.delete),
            "|".join(notes),
        )

    def _event_type(self) -> str:
        """DELETE when leads left vicidial_list, ADD when a restore brought leads back into
        it, else MODIFY (only the archive changed)."""
        if self.restore:
            return "ADD" if self.insert_count else "MODIFY"
        return "DELETE" if self.delete_count else "MODIFY"


class AdminLog:
    """Writes AuditEntry rows to vicidial_admin_log, when enabled and the table exists."""

    def __init__(self, db: Database, *, enabled: bool = True, timeout_s: float = 2.0) -> None:
        self._db = db
        self.enabled = enabled
        self._timeout_s = timeout_s
        self._table_exists = False
        self._checked_at: float | None = None  # monotonic time of the last look

    async def record(self, entry: AuditEntry) -> str:
        """Write the row; return what happened: written, failed, skipped, off or unchanged."""
        if not self.enabled:
            return "off"
        if not entry.changed:
            return "unchanged"
        try:
            async with asyncio.timeout(self._timeout_s):
                outcome = await self._write(entry)
        except Exception as error:  # the batch succeeded: its answer must not change
            self._checked_at = None  # perhaps the table went: look again next time
            log.warning(
                "audit row not written to %s: %s",
                sql.ADMIN_LOG,
                "timed out" if isinstance(error, TimeoutError) else type(error).__name__,
                extra={"fields": {"request_id": entry.request_id}},
            )
            outcome = "failed"
        metrics.AUDIT_ROWS.labels(outcome).inc()
        return outcome

    async def _write(self, entry: AuditEntry) -> str:
        async with self._db.session() as session:
            if not await self._exists(session):
                return "skipped"
            await session.execute(sql.INSERT_ADMIN_LOG, entry.row())
        return "written"

    async def _exists(self, session: Session) -> bool:
        """Whether vicidial_admin_log exists, looked up at most every TABLE_RECHECK_S."""
        now = time.monotonic()
        if self._checked_at is None or now - self._checked_at >= TABLE_RECHECK_S:
            rows = await session.fetch_all(sql.TABLE_EXISTS, (sql.ADMIN_LOG,))
            exists = bool(rows[0][0])
            if not exists and (self._table_exists or self._checked_at is None):
                log.info("no %s table: batches are not audited", sql.ADMIN_LOG)
            self._table_exists, self._checked_at = exists, now
        return self._table_exists


class BatchAudit:
    """Writes the audit row of every successful batch that changed data (see AdminLog)."""

    def __init__(self, admin_log: AdminLog) -> None:
        self._admin_log = admin_log

    async def call_ended(self, call: EndedCall) -> None:
        """Audit a successful ArchiveLeads or RestoreLeads call."""
        if call.code != grpc.StatusCode.OK or not call.is_batch:
            return
        request, record = call.request, call.record
        restore = isinstance(request, pb.RestoreLeadsRequest)
        counts = {name: int(getattr(call.response, name, 0)) for name in GRPC_COUNT_FIELDS}
        await self._admin_log.record(
            AuditEntry(
                request_id=record.request_id,
                api_user=record.api_user,
                client_ip=record.client_ip,
                lead_ids=tuple(request.lead_ids),
                insert=restore or request.insert_leads,
                update=not restore and request.update_leads,
                delete=restore or request.delete_leads,
                restore=restore,
                **counts,
            )
        )
