"""Audit in Vicidial: one vicidial_admin_log row per batch that changed data.

The row shows up in Vicidial's Admin Change Log like the admin pages' own LEADS events:
``user`` the API user, ``ip_address`` the client, ``event_section`` LEADS, ``event_type``
DELETE (the batch removed leads from vicidial_list) or MODIFY (it only wrote the archive),
``record_id`` the request id (also in the service's log line and the X-Request-Id header),
``event_code`` ARCHIVE_EVENT_CODE, ``event_sql`` the statements in outline, ``event_notes``
the counts and the lead IDs.

It is written by the batch itself, with its COMMIT (core.archive.CommitNote): on InnoDB
tables inside the batch's transaction, so the row and the change it records commit together
(one commit for both); on MyISAM right after the batch. The server stops the INSERT after
LEAD_ARCHIVE_AUDIT_TIMEOUT_S (a locked admin log); an error or a timeout is logged and
counted, never passed to the caller, and never stops the batch's COMMIT.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from lead_archive_client.model import ArchiveResult, RestoreResult
from vicidial.leads.v1 import lead_archive_pb2 as pb

from lead_archive_server.core import sql
from lead_archive_server.core.db import Database, Statement
from lead_archive_server.core.errors import ArchiveError
from lead_archive_server.service import metrics
from lead_archive_server.service.callers import admin_log_address
from lead_archive_server.service.calls import CallRecord

log = logging.getLogger(__name__)

ARCHIVE_EVENT_CODE = "LEAD ARCHIVE API ARCHIVE LEADS"
RESTORE_EVENT_CODE = "LEAD ARCHIVE API RESTORE LEADS"
# The key commands' rows (section sql.KEYS_SECTION): what each did, as Vicidial's event types.
KeyAction = Literal["create", "revoke", "rotate"]
KEY_EVENT_CODES: dict[KeyAction, str] = {
    "create": "LEAD ARCHIVE API KEY CREATE",
    "revoke": "LEAD ARCHIVE API KEY REVOKE",
    "rotate": "LEAD ARCHIVE API KEY ROTATE",
}
_KEY_EVENT_TYPES: dict[KeyAction, str] = {"create": "ADD", "revoke": "DELETE", "rotate": "MODIFY"}
# How long to trust a look at information_schema for the table before looking again.
TABLE_RECHECK_S = 60.0
R = TypeVar("R")


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
    in_use_count: int = 0  # archive batches: leads the dialer guard kept
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
            *([] if self.restore else [f"in_use_count: {self.in_use_count}"]),
            "lead_ids: " + ",".join(map(str, self.lead_ids)),
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


@dataclass(frozen=True)
class KeyEvent:
    """One key command: which key, whose, and the operator (login user) who ran it."""

    action: KeyAction
    key_id: int
    operator: str
    api_user: str
    notes: tuple[str, ...] = ()  # `name: value` facts, e.g. the scopes and the expiry

    def row(self) -> tuple[object, ...]:
        """The values of sql.INSERT_KEYS_ADMIN_LOG, in order (no client address: the
        command ran on a server, not through the API)."""
        return (
            self.operator[:20],
            "",
            _KEY_EVENT_TYPES[self.action],
            str(self.key_id),
            KEY_EVENT_CODES[self.action],
            sql.key_event_outline(self.action, self.key_id),
            "|".join((f"api_user: {self.api_user}", *self.notes)),
        )


def batch_entry(
    record: CallRecord, request: pb.ArchiveLeadsRequest | pb.RestoreLeadsRequest
) -> Callable[[ArchiveResult | RestoreResult], AuditEntry]:
    """How the audit entry of this call's batch is made from the batch's result."""
    restore = isinstance(request, pb.RestoreLeadsRequest)
    flags = (
        (request.insert_leads, request.update_leads, request.delete_leads)
        if isinstance(request, pb.ArchiveLeadsRequest)
        else (True, False, True)  # a restore inserts and deletes
    )

    def entry(result: ArchiveResult | RestoreResult) -> AuditEntry:
        return AuditEntry(
            request_id=record.request_id,
            api_user=record.api_user,
            client_ip=record.client_ip,
            lead_ids=tuple(request.lead_ids),
            insert=flags[0],
            update=flags[1],
            delete=flags[2],
            select_count=result.select_count,
            insert_count=result.insert_count,
            update_count=getattr(result, "update_count", 0),
            delete_count=result.delete_count,
            kept_count=result.kept_count,
            in_use_count=getattr(result, "in_use_count", 0),
            restore=restore,
        )

    return entry


class AdminLog:
    """The audit rows of batches: on when enabled and the table exists."""

    def __init__(self, db: Database, *, enabled: bool = True, timeout_s: float = 2.0) -> None:
        self._db = db
        self.enabled = enabled
        self._timeout_s = timeout_s
        self._table_exists = False
        self._checked_at: float | None = None  # monotonic time of the last look

    async def note(self, entry_for: Callable[[R], AuditEntry]) -> AuditNote[R] | None:
        """The audit row of a batch about to run (its entry made from the batch's result),
        or None when the audit is off."""
        if not self.enabled:
            return None
        try:
            exists = await self._exists()
        except ArchiveError:  # the batch will say what is wrong; try the row all the same
            exists = True
        return AuditNote(self, entry_for, exists)

    def statement(self, entry: AuditEntry) -> Statement:
        """The entry's INSERT, stopped by the server after the time limit."""
        return sql.within(self._timeout_s, sql.INSERT_ADMIN_LOG), entry.row()

    def outcome(self, outcome: str, request_id: str, error: str | None = None) -> None:
        """Count what became of a row (written, failed, skipped); log a failure."""
        if outcome == "failed":
            self._checked_at = None  # perhaps the table went: look again next time
            log.warning(
                "audit row not written to %s: %s",
                sql.ADMIN_LOG,
                error,
                extra={"fields": {"request_id": request_id}},
            )
        metrics.AUDIT_ROWS.labels(outcome).inc()

    async def record(self, events: Sequence[KeyEvent]) -> str | None:
        """Write key commands' rows now, in one round trip; None when written (or the audit
        is off, or there is no admin log table), else why not."""
        if not self.enabled or not events:
            return None
        statement = sql.within(self._timeout_s, sql.INSERT_KEYS_ADMIN_LOG)
        try:
            async with self._db.session() as session:
                rows = await session.fetch_all(sql.TABLE_EXISTS, (sql.ADMIN_LOG,))
                if not rows[0][0]:
                    return None
                await session.execute_all([(statement, event.row()) for event in events])
        except ArchiveError as error:
            return _timed_out(error.message)
        return None

    async def _exists(self) -> bool:
        """Whether vicidial_admin_log exists, looked up at most every TABLE_RECHECK_S."""
        now = time.monotonic()
        if self._checked_at is None or now - self._checked_at >= TABLE_RECHECK_S:
            async with self._db.session() as session:
                rows = await session.fetch_all(sql.TABLE_EXISTS, (sql.ADMIN_LOG,))
            exists = bool(rows[0][0])
            if not exists and (self._table_exists or self._checked_at is None):
                log.info("no %s table: batches are not audited", sql.ADMIN_LOG)
            self._table_exists, self._checked_at = exists, now
        return self._table_exists


class AuditNote(Generic[R]):
    """One batch's audit row, for the batch to write with its COMMIT (core CommitNote)."""

    def __init__(
        self, admin_log: AdminLog, entry_for: Callable[[R], AuditEntry], table_exists: bool
    ) -> None:
        self._admin_log = admin_log
        self._entry_for = entry_for
        self._table_exists = table_exists
        self._entry: AuditEntry | None = None

    def statement(self, result: R) -> Statement | None:
        """The row for the batch's result; None when it changed nothing or has no table."""
        self._entry = entry = self._entry_for(result)
        if not entry.changed or not self._table_exists:
            return None
        return self._admin_log.statement(entry)

    def written(self, error: str | None) -> None:
        """Count (and log) what became of the row once the batch committed."""
        entry = self._entry
        if entry is None or not entry.changed:
            return
        outcome = "written" if error is None else "failed"
        outcome = outcome if self._table_exists else "skipped"
        self._admin_log.outcome(outcome, entry.request_id, _timed_out(error))


def _timed_out(error: str | None) -> str | None:
    """Say "timed out" for the server's max_statement_time error (1969)."""
    return "timed out" if error is not None and error.startswith("(1969)") else error
