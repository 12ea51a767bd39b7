"""The gRPC adapter: request message in, plain archive call, response message out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import asdict
from typing import Any, TypeVar

import grpc
from lead_archive_client.vocabulary import (
    AUTHORIZATION_KEY,
    SUCCESS_MESSAGE,
    Scope,
    printable_ascii,
)
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from lead_archive_server.access.guard import AccessGuard
from lead_archive_server.core.archive import ArchiveBatch, archive_leads
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import ArchiveError, ServerError
from lead_archive_server.core.restore import RestoreBatch, restore_leads
from lead_archive_server.service.audit import AdminLog, AuditNote, batch_entry
from lead_archive_server.service.calls import current_call
from lead_archive_server.service.reader import Malformed, well_formed
from lead_archive_server.service.status import abort

log = logging.getLogger(__name__)
R = TypeVar("R")

BatchResponse = pb.ArchiveLeadsResponse | pb.RestoreLeadsResponse
# The batch a call started: it runs to its end even if the caller leaves (see observe).
_batch: ContextVar[asyncio.Future[BatchResponse] | None] = ContextVar("batch", default=None)


def batch_under_way() -> asyncio.Future[BatchResponse] | None:
    """The batch the current call started (resolving to its response), if any."""
    return _batch.get()


async def _shielded(work: Coroutine[Any, Any, R]) -> R:
    """Run a batch in its own task: a caller that leaves (deadline, cancel) cannot stop it
    half way, and the observer can still log and audit it once it ends."""
    task: asyncio.Future[R] = asyncio.ensure_future(work)
    _batch.set(task)  # type: ignore[arg-type]  # R is one of BatchResponse
    return await asyncio.shield(task)


class LeadArchiveServicer(pb_grpc.LeadArchiveServiceServicer):
    """Implements vicidial.leads.v1.LeadArchiveService over the archive functions."""

    def __init__(
        self,
        db: Database,
        guard: AccessGuard,
        *,
        attempts: int = 5,
        dialer_guard: bool = True,
        range_locks: bool = False,
        admin_log: AdminLog | None = None,
    ) -> None:
        self._db = db
        self._guard = guard
        self._attempts = attempts
        self._dialer_guard = dialer_guard
        self._range_locks = range_locks
        self._admin_log = admin_log

    async def ArchiveLeads(
        self,
        request: pb.ArchiveLeadsRequest | Malformed,
        context: grpc.aio.ServicerContext[object, object],
    ) -> pb.ArchiveLeadsResponse:
        """Check the caller, validate the batch, archive it."""
        async with _errors_as_status(context):
            await self._guard.admit(_authorization(context), scope=Scope.ARCHIVE)
            request = well_formed(request)  # after the key, as a REST body
            batch = ArchiveBatch.validated(
                insert=_flag(request, "insert_leads"),
                update=_flag(request, "update_leads"),
                delete=_flag(request, "delete_leads"),
                lead_ids=request.lead_ids,
            )
            note = await self._audit_note(request)
            response = await _shielded(self._archive(batch, note))
        return response

    async def RestoreLeads(
        self,
        request: pb.RestoreLeadsRequest | Malformed,
        context: grpc.aio.ServicerContext[object, object],
    ) -> pb.RestoreLeadsResponse:
        """Check the key (office hours do not apply), validate the batch, restore it."""
        async with _errors_as_status(context):
            await self._guard.admit(
                _authorization(context), office_hours=False, scope=Scope.RESTORE
            )
            request = well_formed(request)
            batch = RestoreBatch.validated(request.lead_ids)
            note = await self._audit_note(request)
            response = await _shielded(self._restore(batch, note))
        return response

    async def _archive(
        self, batch: ArchiveBatch, note: AuditNote[Any] | None
    ) -> pb.ArchiveLeadsResponse:
        result = await archive_leads(
            self._db,
            batch,
            attempts=self._attempts,
            dialer_guard=self._dialer_guard,
            range_locks=self._range_locks,
            note=note,
        )
        return pb.ArchiveLeadsResponse(message=SUCCESS_MESSAGE, **asdict(result))

    async def _restore(
        self, batch: RestoreBatch, note: AuditNote[Any] | None
    ) -> pb.RestoreLeadsResponse:
        result = await restore_leads(
            self._db, batch, attempts=self._attempts, range_locks=self._range_locks, note=note
        )
        return pb.RestoreLeadsResponse(message=SUCCESS_MESSAGE, **asdict(result))

    async def _audit_note(
        self, request: pb.ArchiveLeadsRequest | pb.RestoreLeadsRequest
    ) -> AuditNote[Any] | None:
        """The batch's audit row, which the batch writes with its COMMIT (see audit)."""
        record = current_call()
        if self._admin_log is None or record is None:
            return None
        return await self._admin_log.note(batch_entry(record, request))

    async def CheckAccess(
        self,
        request: pb.CheckAccessRequest | Malformed,
        context: grpc.aio.ServicerContext[object, object],
    ) -> pb.CheckAccessResponse:
        """Check the key, the scope the request names (if any) and, unless the request says
        key_only, the office hours; answer the key's user and scopes. Nothing is read or
        changed."""
        async with _errors_as_status(context):
            request = well_formed(request)  # the request says what to check
            found = await self._guard.admit_key(
                _authorization(context),
                office_hours=not request.key_only,
                scope=_scope(request.scope) if request.scope else None,
            )
        return pb.CheckAccessResponse(api_user=found.api_user, scopes=found.scopes)


def _flag(request: pb.ArchiveLeadsRequest, name: str) -> bool | None:
    """An unset optional flag is None: the documented "must be a boolean value" case."""
    return bool(getattr(request, name)) if request.HasField(name) else None


def _scope(name: str) -> str:
    """A scope a request names, fit for a log line and metadata (no key has an unknown one,
    so it is refused as missing all the same)."""
    return name if printable_ascii(name) and len(name) <= 32 else ascii(name[:32])


def _authorization(context: grpc.aio.ServicerContext[object, object]) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == AUTHORIZATION_KEY:
            return value if isinstance(value, str) else value.decode(errors="replace")
    return None


@asynccontextmanager
async def _errors_as_status(
    context: grpc.aio.ServicerContext[object, object],
) -> AsyncIterator[None]:
    """End the call with the documented status for any error, never a traceback."""
    try:
        yield
    except ArchiveError as error:
        await abort(context, error)
    except Exception:
        log.exception("unexpected error in a gRPC call")
        await abort(context, ServerError())
