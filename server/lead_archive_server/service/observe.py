"""Around every LeadArchiveService call: open its record, time it, and tell the listeners.

``CallObserver`` is a gRPC server interceptor, so the servicer stays a thin adapter. Its one
job is the call's life: it opens a ``CallRecord`` (request id and client address, see
``callers``) and, when the call ends, hands an ``EndedCall`` to each listener in turn: the
log line (``access_log.AccessLog``) and the metrics (``metrics.CallMetrics``); the audit row
is written by the batch itself (``audit``). When the caller stops waiting (deadline,
cancel), a batch already under way still runs to its end (the servicer shields it) and is
then ended with its real counts (``caller_left``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from lead_archive_client.networks import IpNetwork
from lead_archive_client.vocabulary import (
    CLIENT_REQUEST_ID_KEY,
    FORWARDED_FOR_KEY,
    REQUEST_ID_KEY,
    new_request_id,
    request_id_or_new,
    safe_request_id,
)

from lead_archive_server.service.callers import client_address, speaks_for_clients
from lead_archive_server.service.calls import CallRecord, EndedCall, enter_call, leave_call
from lead_archive_server.service.drain import Gate
from lead_archive_server.service.interceptor import ServiceInterceptor
from lead_archive_server.service.servicer import BatchResponse, batch_under_way

if TYPE_CHECKING:
    from lead_archive_server.service.interceptor import Behaviour, Context


class CallListener(Protocol):
    """Something that acts on every ended call (one job each: audit, log line, metrics)."""

    async def call_ended(self, call: EndedCall) -> None: ...


class CallObserver(ServiceInterceptor):
    """Observes LeadArchiveService calls; health and reflection pass through untouched."""

    def __init__(
        self,
        listeners: Sequence[CallListener],
        trusted_proxies: tuple[IpNetwork, ...],
        gate: Gate,
    ) -> None:
        self._listeners = tuple(listeners)
        self._trusted = trusted_proxies
        self._gate = gate
        self._left_behind: set[asyncio.Future[None]] = set()

    def wrap(self, method: str, inner: Behaviour) -> Behaviour:
        """Open the call's record, time the call, and end it with its listeners."""

        async def observed(request: Any, context: Context) -> Any:
            record = self._open(method, context)
            token = enter_call(record)
            started = perf_counter()
            try:
                response = await inner(request, context)
            except asyncio.CancelledError:
                batch = batch_under_way()
                if batch is None or batch.done():
                    await self._failed(record, request, started, context)
                else:  # the caller left; the shielded batch goes on (see servicer)
                    self._after_caller_left(record, request, batch, started, context)
                raise
            except BaseException:
                await self._failed(record, request, started, context)
                raise
            finally:
                leave_call(token)
            await self._ended(
                EndedCall(record, request, response, grpc.StatusCode.OK, 0.0), started
            )
            return response

        return observed

    async def _ended(self, call: EndedCall, started: float) -> None:
        """Hand the ended call, with its duration, to every listener in turn."""
        timed = EndedCall(
            call.record,
            call.request,
            call.response,
            call.code,
            perf_counter() - started,
            call.error,
        )
        for listener in self._listeners:
            await listener.call_ended(timed)

    async def _failed(
        self, record: CallRecord, request: Any, started: float, context: Context
    ) -> None:
        code = context.code() or grpc.StatusCode.CANCELLED
        call = EndedCall(record, request, None, code, 0.0, context.details() or "")
        # A failed call must still be logged when its task is being cancelled.
        await asyncio.shield(self._ended(call, started))

    def _after_caller_left(
        self,
        record: CallRecord,
        request: Any,
        batch: asyncio.Future[BatchResponse],
        started: float,
        context: Context,
    ) -> None:
        """End a batch once it finishes, though its caller no longer waits for it."""
        record.caller_left = True

        async def complete() -> None:
            try:
                response = await batch
            except BaseException:  # the batch failed on its own: ended with its code
                await self._failed(record, request, started, context)
                return
            ok = EndedCall(record, request, response, grpc.StatusCode.OK, 0.0)
            await self._ended(ok, started)

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


def _text(value: str | bytes | None) -> str | None:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
