"""The shim's one channel to the gRPC server: plaintext or TLS, with request context.

Every call on the channel carries the HTTP request's id (``x-request-id``) and the HTTP
client's address (``x-forwarded-for``, which the server believes only from a trusted
proxy address), and reports the server's answer back into the request's record.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    UNAVAILABLE ("archive service unavailable") instead of waiting.
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
            call = await continuation(client_call_details, request)
            with contextlib.suppress(grpc.aio.AioRpcError):  # the caller reads it from the call
                await call
            return call


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
