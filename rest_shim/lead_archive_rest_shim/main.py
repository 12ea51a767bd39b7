"""Assemble the REST shim: one FastAPI app in front of one long-lived gRPC channel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc  # type: ignore[import-untyped, unused-ignore]
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from lead_archive_client.networks import IpNetwork
from vicidial.leads.v1 import lead_archive_pb2_grpc

from lead_archive_rest_shim import ops
from lead_archive_rest_shim.context import RequestContextMiddleware
from lead_archive_rest_shim.errors import ApiError, handle_api_error
from lead_archive_rest_shim.known_keys import KnownKeys
from lead_archive_rest_shim.openapi import SECURITY_SCHEMES
from lead_archive_rest_shim.routes import router
from lead_archive_rest_shim.upstream import MAX_CALLS, UpstreamTls, open_channel

ChannelFactory = Callable[[str], grpc.aio.Channel]


def create_app(
    upstream: str,
    *,
    channel_factory: ChannelFactory | None = None,
    upstream_tls: UpstreamTls | None = None,
    upstream_metadata: tuple[tuple[str, str], ...] = (),
    trusted_proxies: tuple[IpNetwork, ...] = (),
    server_metrics: bool = False,
    upstream_max_calls: int = MAX_CALLS,
) -> FastAPI:
    """Build the REST shim that forwards to the LeadArchiveService at ``upstream`` (HOST:PORT).

    The channel is opened when the app starts (``lifespan``) and closed when it stops; it
    uses TLS when ``upstream_tls`` is given, and sends ``upstream_metadata`` with every
    call. ``trusted_proxies`` are the networks of the proxies whose X-Forwarded-For is
    believed. ``upstream_max_calls``: calls in flight on the channel at
    most (the gRPC server's streams per connection). ``server_metrics``: the gRPC server
    runs in this process, so ``/metrics`` exports its metrics too. ``channel_factory``
    replaces the channel altogether, e.g. for tests (its calls then carry no request id or
    client address).
    """
    connect: ChannelFactory = channel_factory or (
        lambda target: open_channel(target, upstream_tls, upstream_metadata, upstream_max_calls)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        channel = connect(upstream)
        app.state.stub = lead_archive_pb2_grpc.LeadArchiveServiceStub(channel)
        app.state.channel = channel
        try:
            yield
        finally:
            await channel.close()

    # /docs and /redoc with their assets served by the shim itself (no CDN: works offline).
    app = FastAPIOffline(
        title="Vicidial Lead Archive API",
        description="Archives leads from vicidial_list into vicidial_list_archive.",
        version="1",
        lifespan=lifespan,
        redirect_slashes=False,
    )
    _declare_security_schemes(app)
    app.state.server_metrics = server_metrics
    app.state.known_keys = KnownKeys()
    app.include_router(router)
    app.include_router(ops.router)
    app.add_exception_handler(ApiError, handle_api_error)
    app.add_middleware(RequestContextMiddleware, trusted_proxies=trusted_proxies)
    return app


def _declare_security_schemes(app: FastAPI) -> None:
    """Add the API key scheme to the OpenAPI document (the archive route names it)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # built once and cached by FastAPI; the update is idempotent
        schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(
            SECURITY_SCHEMES
        )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
