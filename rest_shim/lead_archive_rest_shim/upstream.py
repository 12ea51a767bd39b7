"""The shim's one channel to the gRPC server: plaintext or TLS, with request context.

Every call on the channel carries the HTTP request's id (``x-request-id``) and the HTTP
client's address (``x-forwarded-for``, which the server believes only from a trusted
proxy address), and reports the server's answer back into the request's record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc  # type: ignore[import-untyped, unused-ignore]
from lead_archive_client.vocabulary import (
    API_USER_KEY,
    CLIENT_REQUEST_ID_KEY,
    FORWARDED_FOR_KEY,
    GRPC_COUNT_FIELDS,
    REQUEST_ID_KEY,
)

from lead_archive_rest_shim.context import RequestRecord, current_request

Metadata = tuple[tuple[str, str], ...]
# The gRPC server's default streams per connection (LEAD_ARCHIVE_GRPC_MAX_CONCURRENT_STREAMS).
MAX_CALLS = 32
# A call whose stream the server refused unprocessed is sent again, at most this many times in
# all, pausing a little longer each time (the server is letting go of finished calls).
REFUSED_STREAM_ATTEMPTS = 5
REFUSED_STREAM_PAUSE_S = 0.005
REFUSED_STREAM_TEXT = "Received RST_STREAM with error code 7"


@dataclass(frozen=True)
class UpstreamTls:
    """How to check the gRPC server's certificate.

    ``root_certificates`` is a PEM CA bundle (None: the system's); ``server_name`` the name
    the certificate must carry when it differs from the host dialled.
    """

    root_certificates: bytes | None = None
    server_name: str | None = None


class _CallSlots(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc, unused-ignore]
    """At most `slots` calls in flight on the channel; the others wait their turn.

    The channel is one connection, and the server refuses streams beyond its per-connection
    limit: a burst of requests on a fresh connection, before the server's limit is known, got
    UNAVAILABLE ("archive service unavailable") instead of waiting. The server also counts a
    finished call until its handler has let go of it (gRPC's overload protection), so under
    load a stream can still be refused with every slot honoured: such a call is sent again.
    """

    def __init__(self, slots: int) -> None:
        self._slots = asyncio.Semaphore(slots)

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        async with self._slots:
            for attempt in range(1, REFUSED_STREAM_ATTEMPTS + 1):
                call = await continuation(client_call_details, request)
                if not await _refused_unprocessed(call) or attempt == REFUSED_STREAM_ATTEMPTS:
                    break
                await asyncio.sleep(REFUSED_STREAM_PAUSE_S * attempt)
            return call


async def _refused_unprocessed(call: grpc.aio.UnaryUnaryCall[Any, Any]) -> bool:
    """Wait for the call; whether its stream was refused unprocessed (the caller reads any
    other failure from the call itself)."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return refused_unprocessed(error)
    return False


def refused_unprocessed(error: grpc.aio.AioRpcError) -> bool:
    """Whether the server refused the call's stream before doing anything with it.

    HTTP/2's REFUSED_STREAM (error code 7) promises that no part of the request was processed,
    so any call, an archive batch too, is safe to send again (RFC 9113, section 8.7). gRPC
    reports it only in the status text; tests/rest_shim/test_upstream.py fails if that changes.
    """
    details = error.details() or ""
    return error.code() == grpc.StatusCode.UNAVAILABLE and REFUSED_STREAM_TEXT in details


class _ContextInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc, unused-ignore]
    """Add the request's id and client address; note the user, counts and status."""

    def __init__(self, extra_metadata: Metadata = ()) -> None:
        self._extra = extra_metadata

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        record = current_request()
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()), *self._extra)
        if record is None:
            return await continuation(_with(client_call_details, metadata), request)
        metadata.add(REQUEST_ID_KEY, record.request_id)
        if record.client_request_id:
            metadata.add(CLIENT_REQUEST_ID_KEY, record.client_request_id)
        if record.client_ip:
            metadata.add(FORWARDED_FOR_KEY, record.client_ip)
        if hasattr(request, "lead_ids"):
            record.lead_count = len(request.lead_ids)
        call = await continuation(_with(client_call_details, metadata), request)
        try:
            response = await call
        except grpc.aio.AioRpcError as error:
            record.upstream_outcome = error.code().name
            _note_user(record, error.trailing_metadata())
            return call
        record.upstream_outcome = grpc.StatusCode.OK.name
        _note_user(record, await call.trailing_metadata())
        if hasattr(response, "delete_count"):
            record.counts = {name: int(getattr(response, name, 0)) for name in GRPC_COUNT_FIELDS}
        return call


def _with(details: grpc.aio.ClientCallDetails, metadata: Any) -> grpc.aio.ClientCallDetails:
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


def _note_user(record: RequestRecord, trailing: Any) -> None:
    for key, value in trailing or ():
        if key == API_USER_KEY and isinstance(value, str):
            record.api_user = value


def open_channel(
    target: str,
    tls: UpstreamTls | None = None,
    extra_metadata: Metadata = (),
    max_calls: int = MAX_CALLS,
) -> grpc.aio.Channel:
    """A channel to HOST:PORT: TLS when ``tls`` is given, else plaintext.

    ``extra_metadata`` goes with every call (the in-process token of ``lead-archive serve``);
    at most ``max_calls`` calls are in flight at once (the server's streams per connection).
    """
    interceptors = [_CallSlots(max_calls), _ContextInterceptor(extra_metadata)]
    if tls is None:
        return grpc.aio.insecure_channel(target, interceptors=interceptors)
    credentials = grpc.ssl_channel_credentials(root_certificates=tls.root_certificates)
    options = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
    return grpc.aio.secure_channel(target, credentials, options=options, interceptors=interceptors)
