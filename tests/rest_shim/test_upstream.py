"""The shim's channel sends a call again when the server refused its stream unprocessed
(HTTP/2 REFUSED_STREAM: gRPC's overload protection does so while finished calls are let go
of), and only then. The server here is raw HTTP/2 that resets each stream as scripted, so the
real gRPC client reports the refusal, in its own words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import h2.config
import h2.connection
import h2.events
import pytest
from h2.errors import ErrorCodes
from lead_archive_rest_shim.upstream import (
    REFUSED_STREAM_ATTEMPTS,
    open_channel,
    refused_unprocessed,
)
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

EMPTY_MESSAGE = b"\x00\x00\x00\x00\x00"  # uncompressed, zero bytes: every field at its default


@dataclass
class ScriptedServer:
    """Resets each new stream with the next code of `resets`; once they run out, answers OK."""

    resets: list[ErrorCodes]
    streams: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        while data := await reader.read(65536):
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    self._answer(connection, event.stream_id)
            writer.write(connection.data_to_send())
            await writer.drain()
        writer.close()

    def _answer(self, connection: h2.connection.H2Connection, stream_id: int) -> None:
        self.streams += 1
        if self.resets:
            connection.reset_stream(stream_id, self.resets.pop(0))
            return
        connection.send_headers(
            stream_id, [(":status", "200"), ("content-type", "application/grpc")]
        )
        connection.send_data(stream_id, EMPTY_MESSAGE)
        connection.send_headers(stream_id, [("grpc-status", "0")], end_stream=True)


@dataclass
class Upstream:
    server: ScriptedServer
    stub: pb_grpc.LeadArchiveServiceStub


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    scripted = ScriptedServer(resets=[])
    server = await asyncio.start_server(scripted.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    channel = open_channel(f"127.0.0.1:{port}")
    try:
        yield Upstream(scripted, pb_grpc.LeadArchiveServiceStub(channel))
    finally:
        await channel.close()
        server.close()


async def test_a_stream_refused_unprocessed_is_sent_again(upstream: Upstream) -> None:
    upstream.server.resets = [ErrorCodes.REFUSED_STREAM, ErrorCodes.REFUSED_STREAM]
    reply = await upstream.stub.CheckAccess(pb.CheckAccessRequest(), timeout=10)
    assert reply == pb.CheckAccessResponse()
    assert upstream.server.streams == 3


async def test_refused_every_time_it_fails_after_the_last_attempt(upstream: Upstream) -> None:
    upstream.server.resets = [ErrorCodes.REFUSED_STREAM] * (REFUSED_STREAM_ATTEMPTS + 3)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await upstream.stub.CheckAccess(pb.CheckAccessRequest(), timeout=10)
    # gRPC still words a refused stream the way refused_unprocessed looks for.
    assert refused_unprocessed(raised.value), raised.value.details()
    assert upstream.server.streams == REFUSED_STREAM_ATTEMPTS


@pytest.mark.parametrize("code", [ErrorCodes.INTERNAL_ERROR, ErrorCodes.CANCEL])
async def test_a_stream_reset_otherwise_is_not_sent_again(
    upstream: Upstream, code: ErrorCodes
) -> None:
    # The server may have acted on it: only the caller can tell whether to try again.
    upstream.server.resets = [code]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await upstream.stub.CheckAccess(pb.CheckAccessRequest(), timeout=10)
    assert not refused_unprocessed(raised.value)
    assert upstream.server.streams == 1
