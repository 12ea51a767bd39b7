"""Around every LeadArchiveService call: request id, client address, log line, metrics, audit.

``CallObserver`` is a gRPC server interceptor, so the servicer stays a thin adapter. It
opens a ``CallRecord`` that ``RecordingGuard`` completes with the API user once the key is
checked; when the call ends it writes one log line and the metrics, and, for a batch that
changed data, the vicidial_admin_log row. The request id and the API user go back to the
caller in trailing metadata (``x-request-id``, ``x-api-user``). When the caller stops
waiting (deadline, cancel), a batch already under way still runs to its end (the servicer
shields it) and is then logged (``caller_left``) and audited with its real counts.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from lead_archive_client.vocabulary import (
    API_USER_KEY,
    CLIENT_REQUEST_ID_KEY,
    FORWARDED_FOR_KEY,
    GRPC_COUNT_FIELDS,
    GRPC_RESTORE_COUNT_FIELDS,
    REQUEST_ID_KEY,
    SERVICE_NAME,
    new_request_id,
    request_id_or_new,
    safe_request_id,
)
from vicidial.leads.v1 import lead_archive_pb2 as pb

from lead_archive_server.access.guard import AccessGuard
from lead_archive_server.core.errors import ShuttingDown
from lead_archive_server.service import metrics
from lead_archive_server.service.audit import AdminLog, AuditEntry
from lead_archive_server.service.callers import (
    IpNetwork,
    client_address,
    speaks_for_clients,
)
from lead_archive_server.service.servicer import BatchResponse, batch_under_way
from lead_archive_server.service.status import abort

log = logging.getLogger("server.requests")

_PREFIX = f"/{SERVICE_NAME}/"
SHIM_TOKEN_KEY = "x-lead-archive-shim"
# What each batch method's request and response are, and the counts its response carries.
_BATCHES: dict[type[Any], tuple[str, ...]] = {
    pb.ArchiveLeadsRequest: GRPC_COUNT_FIELDS,
    pb.RestoreLeadsRequest: GRPC_RESTORE_COUNT_FIELDS,
    pb.ArchiveLeadsResponse: GRPC_COUNT_FIELDS,
    pb.RestoreLeadsResponse: GRPC_RESTORE_COUNT_FIELDS,
}

if TYPE_CHECKING:  # generic only in grpc's type stubs
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
    Behaviour: TypeAlias = Callable[[Any, Context], Awaitable[Any]]


@dataclass
class CallRecord:
    """One call: who made it and under which id."""

    method: str
    request_id: str
    client_ip: str
    context: Context
    api_user: str = ""
    # What the caller said its id was: logged beside ours, never written to the audit row.
    client_request_id: str = ""
    # The caller stopped waiting (deadline, cancel) while the call's work went on.
    caller_left: bool = False

    def set_user(self, api_user: str) -> None:
        """Remember the API user and tell the caller in trailing metadata."""
        self.api_user = api_user
        self.context.set_trailing_metadata(self.trailing_metadata())

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        """What every answer carries: the request id, and the user once known."""
        user = ((API_USER_KEY, self.api_user),) if self.api_user else ()
        return ((REQUEST_ID_KEY, self.request_id), *user)


_current: ContextVar[CallRecord | None] = ContextVar("lead_archive_call", default=None)


def current_call() -> CallRecord | None:
    """The record of the call being served, if any."""
    return _current.get()


class RecordingGuard(AccessGuard):
    """The access guard that also writes the admitted API user into the call's record."""

    async def admit(
        self, authorization: str | None, client: str | None = None, *, office_hours: bool = True
    ) -> str:
        """Check key and office hours (see AccessGuard); note the user.

        Failed attempts count against the call's client address (the forwarded one from a
        trusted proxy), which is what the failed-authentication limit keys on.
        """
        record = current_call()
        if client is None and record is not None:
            client = record.client_ip or None
        return await super().admit(authorization, client, office_hours=office_hours)

    def identified(self, api_user: str) -> None:
        """The key is valid: the user goes into the record (and the log), even for a 403."""
        record = current_call()
        if record is not None:
            record.set_user(api_user)


class Gate:
    """Whether new calls are taken: always, until shutdown begins.

    While draining, only calls from the REST shim of the same process (``lead-archive
    serve``) still pass, so HTTP requests it accepted before the signal can finish; it
    proves itself with a random per-process token in metadata, which never leaves the
    process's own connection.
    """

    def __init__(self) -> None:
        self.token = secrets.token_hex(16)
        self.draining = False

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """What the in-process shim adds to every call."""
        return ((SHIM_TOKEN_KEY, self.token),)

    def admits(self, metadata: dict[str, Any]) -> bool:
        """Whether a new call with this metadata may start."""
        return not self.draining or self.from_own_shim(metadata)

    def from_own_shim(self, metadata: dict[str, Any]) -> bool:
        """Whether the call comes from the REST shim of this process (it has the token)."""
        token = _text(metadata.get(SHIM_TOKEN_KEY)) or ""
        return hmac.compare_digest(token.encode(), self.token.encode())


class CallObserver(grpc.aio.ServerInterceptor):
    """Observes LeadArchiveService calls; health and reflection pass through untouched."""

    def __init__(
        self, admin_log: AdminLog, trusted_proxies: tuple[IpNetwork, ...], gate: Gate
    ) -> None:
        self._admin_log = admin_log
        self._trusted = trusted_proxies
        self._gate = gate
        self._left_behind: set[asyncio.Future[None]] = set()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        """Wrap the unary methods of LeadArchiveService."""
        handler = await continuation(handler_call_details)
        method = str(handler_call_details.method)
        if handler is None or handler.unary_unary is None or not method.startswith(_PREFIX):
            return handler
        return grpc.unary_unary_rpc_method_handler(
            # A coroutine function for an aio server, whatever grpc's stubs say.
            self._observed(method.removeprefix(_PREFIX), handler.unary_unary),  # type: ignore[arg-type]
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _observed(self, method: str, inner: Behaviour) -> Behaviour:
        async def observed(request: Any, context: Context) -> Any:
            record = self._open(method, context)
            token = _current.set(record)
            started = perf_counter()
            try:
                if not self._gate.admits(dict(context.invocation_metadata() or ())):
                    await _refuse(context)
                response = await inner(request, context)
            except asyncio.CancelledError:
                batch = batch_under_way()
                if batch is None or batch.done():
                    self._failed(record, request, started, context)
                else:  # the caller left; the shielded batch goes on (see servicer)
                    self._after_caller_left(record, request, batch, started, context)
                raise
            except BaseException:
                self._failed(record, request, started, context)
                raise
            finally:
                _current.reset(token)
            await self._audit(record, request, response)
            self._finish(record, request, response, grpc.StatusCode.OK, perf_counter() - started)
            return response

        return observed

    def _failed(self, record: CallRecord, request: Any, started: float, context: Context) -> None:
        code = context.code() or grpc.StatusCode.CANCELLED
        self._finish(record, request, None, code, perf_counter() - started, context)

    def _after_caller_left(
        self,
        record: CallRecord,
        request: Any,
        batch: asyncio.Future[BatchResponse],
        started: float,
        context: Context,
    ) -> None:
        """Log and audit a batch once it ends, though its caller no longer waits for it."""
        record.caller_left = True

        async def complete() -> None:
            try:
                response = await batch
            except BaseException:  # the batch failed on its own: logged with its code
                self._failed(record, request, started, context)
                return
            await self._audit(record, request, response)
            self._finish(record, request, response, grpc.StatusCode.OK, perf_counter() - started)

        task = asyncio.ensure_future(complete())
        self._left_behind.add(task)
        task.add_done_callback(self._left_behind.discard)

    async def settle(self) -> None:
        """Wait for the calls whose callers left (before the database closes)."""
        if self._left_behind:
            await asyncio.gather(*self._left_behind, return_exceptions=True)

    def _open(self, method: str, context: Context) -> CallRecord:
        """Who calls: a proxy we trust (our own shim, or one named in the settings) speaks
        for its client's address and request ids; any other caller's are its word only."""
        metadata = {key: value for key, value in context.invocation_metadata() or ()}
        sent_id = _text(metadata.get(REQUEST_ID_KEY))
        forwarded = _text(metadata.get(FORWARDED_FOR_KEY))
        peer = context.peer()
        if self._gate.from_own_shim(metadata) or speaks_for_clients(peer, self._trusted):
            request_id = request_id_or_new(sent_id)
            client_ip = client_address(peer, forwarded, (), believed=True)
            client_id = safe_request_id(_text(metadata.get(CLIENT_REQUEST_ID_KEY)))
        else:
            request_id = new_request_id()
            client_ip = client_address(peer, None, ())
            client_id = safe_request_id(sent_id)
        record = CallRecord(method, request_id, client_ip, context, client_request_id=client_id)
        context.set_trailing_metadata(record.trailing_metadata())
        return record

    async def _audit(self, record: CallRecord, request: Any, response: Any) -> None:
        restore = isinstance(request, pb.RestoreLeadsRequest)
        if not (restore or isinstance(request, pb.ArchiveLeadsRequest)):
            return
        counts = {name: int(getattr(response, name, 0)) for name in GRPC_COUNT_FIELDS}
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

    def _finish(
        self,
        record: CallRecord,
        request: Any,
        response: Any,
        code: grpc.StatusCode,
        seconds: float,
        context: Context | None = None,
    ) -> None:
        """One log line and the metrics for a finished call."""
        counts = []
        names = _BATCHES.get(type(request), ())
        if type(response) in _BATCHES:
            counts = [int(getattr(response, name)) for name in names]
        metrics.record_call(record.method, code.name, seconds, counts)
        fields: dict[str, Any] = {
            "request_id": record.request_id,
            **({"client_request_id": record.client_request_id} if record.client_request_id else {}),
            "method": record.method,
            "api_user": record.api_user,
            "client_ip": record.client_ip,
            "outcome": code.name,
            "duration_ms": round(seconds * 1000, 1),
        }
        if names:
            fields["lead_count"] = len(request.lead_ids)
            fields.update(zip(names, counts or [0] * len(names), strict=True))
        if record.caller_left:
            fields["caller_left"] = True
        if context is not None and code != grpc.StatusCode.OK:
            # The contract's message; never SQL, a trace or a credential (see errors.py).
            fields["error"] = context.details() or ""
        log.info("%s %s", record.method, code.name, extra={"fields": fields})


async def _refuse(context: Context) -> None:
    """End a call that came after shutdown began, as the servicer ends its errors."""
    await abort(context, ShuttingDown())


def _text(value: str | bytes | None) -> str | None:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
