"""Assemble the REST shim: one FastAPI app in front of one long-lived gRPC channel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import grpc  # type: ignore[import-untyped, unused-ignore]
from fastapi import FastAPI
from vicidial.leads.v1 import lead_archive_pb2_grpc

from rest_shim.errors import ApiError, handle_api_error
from rest_shim.routes import router

ChannelFactory = Callable[[str], grpc.aio.Channel]


def create_app(upstream: str, *, channel_factory: ChannelFactory | None = None) -> FastAPI:
    """Build the REST shim that forwards to the LeadArchiveService at ``upstream`` (HOST:PORT).

    The channel is opened when the app starts (``lifespan``) and closed when it stops;
    ``channel_factory`` replaces ``grpc.aio.insecure_channel``, e.g. for TLS or tests.
    """
    open_channel: ChannelFactory = channel_factory or grpc.aio.insecure_channel

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        channel = open_channel(upstream)
        app.state.stub = lead_archive_pb2_grpc.LeadArchiveServiceStub(channel)
        try:
            yield
        finally:
            await channel.close()

    app = FastAPI(
        title="Vicidial Lead Archive API",
        description="Archives leads from vicidial_list into vicidial_list_archive.",
        version="1",
        lifespan=lifespan,
    )
    app.include_router(router)
    app.add_exception_handler(ApiError, handle_api_error)
    return app
