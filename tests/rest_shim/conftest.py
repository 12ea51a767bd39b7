"""Fixtures of the REST shim's tests: the fake LeadArchiveService (tests/rest_shim/support_fake.py)
served on 127.0.0.1, and the shim wired to it through httpx."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.rest_shim.support_fake import FakeLeadArchive, shim_client


@pytest.fixture
def fake() -> FakeLeadArchive:
    return FakeLeadArchive()


@pytest.fixture
async def upstream(fake: FakeLeadArchive) -> AsyncIterator[str]:
    """The fake served on 127.0.0.1 at a free port; yields HOST:PORT."""
    server = grpc.aio.server()
    pb_grpc.add_LeadArchiveServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


@pytest.fixture
async def client(upstream: str) -> AsyncIterator[httpx.AsyncClient]:
    async for shim in shim_client(upstream):
        yield shim


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
