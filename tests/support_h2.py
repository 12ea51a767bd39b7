"""Raw HTTP/2 clients that misbehave on purpose, as an attacker without a key would.

``HalfOpenStreams`` opens gRPC streams that each announce a message and send it all but its
last byte, as fast as the server's flow control lets them, then hold the streams open. It
reads the server's SETTINGS and opens as many streams per connection as the server allows,
so the same attack runs against any ``max_concurrent_streams``. Every socket is bound to a
source address of the caller's choice (another loopback address than the callers').
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions

ARCHIVE_PATH = "/vicidial.leads.v1.LeadArchiveService/ArchiveLeads"
MiB = 1 << 20


async def connect_from(source: str, port: int, host: str = "127.0.0.1") -> socket.socket:
    """A connected non-blocking TCP socket whose source address is `source`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.bind((source, 0))
    await asyncio.get_running_loop().sock_connect(sock, (host, port))
    return sock


@dataclass
class _Stream:
    stream_id: int
    head: bytes  # the message's 5-byte gRPC prefix, until sent
    left: int  # bytes of the message still to send, less its last byte
    closed_by_server: bool = False

    def take(self, window: int) -> bytes:
        """The next chunk to send within `window` bytes."""
        body = min(self.left, window - len(self.head), len(_FILLER))
        chunk = self.head + _FILLER[:body]
        self.head, self.left = b"", self.left - body
        return chunk


# Bytes of any message body: a field 1 varint, repeated (what it says does not matter).
_FILLER = b"\x08\x01" * (1 << 14)


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h2: h2.connection.H2Connection
    streams: dict[int, _Stream] = field(default_factory=dict)
    terminated: bool = False
    settled: bool = False  # the server's SETTINGS arrived

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def read_events(self, seconds: float) -> bool:
        """Handle what the server sent within `seconds`; False when it sent nothing."""
        try:
            data = await asyncio.wait_for(self.reader.read(65536), seconds)
        except (TimeoutError, ConnectionError):
            return False
        if not data:
            self.terminated = True
            return False
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.terminated = True
            return False
        for event in events:
            self._handle(event)
        self.flush()
        return True

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            self.settled = True
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.terminated = True
        elif isinstance(event, h2.events.StreamReset | h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.closed_by_server = True

    def send_what_the_window_allows(self) -> int:
        sent = 0
        for stream in self.streams.values():
            while stream.left and not stream.closed_by_server and not self.terminated:
                window = min(
                    self.h2.local_flow_control_window(stream.stream_id),
                    self.h2.max_outbound_frame_size,
                )
                if window <= len(stream.head):
                    break
                chunk = stream.take(window)
                try:
                    self.h2.send_data(stream.stream_id, chunk)
                except h2.exceptions.StreamClosedError:
                    stream.closed_by_server = True
                    break
                sent += len(chunk)
        self.flush()
        return sent


@dataclass
class HalfOpenStreams:
    """Streams that each send all of an announced gRPC message but its last byte, and wait."""

    port: int
    source: str
    message_bytes: int = MiB
    metadata: tuple[tuple[str, str], ...] = ()
    connections: list[_Connection] = field(default_factory=list)
    bytes_sent: int = 0

    @property
    def streams(self) -> list[_Stream]:
        return [s for c in self.connections for s in c.streams.values()]

    @property
    def held(self) -> int:
        """Streams the server still keeps open (neither reset nor ended nor disconnected)."""
        return sum(
            1
            for c in self.connections
            if not c.terminated
            for s in c.streams.values()
            if not s.closed_by_server
        )

    async def open(self, count: int, *, stall_s: float = 1.0, deadline_s: float = 120) -> None:
        """Open `count` streams and push their messages until the server stops taking bytes
        (nothing for `stall_s`) or every stream sent all but its last byte."""
        async with asyncio.timeout(deadline_s):
            if not count:  # a connection with no stream
                await self._connect()
            while len(self.streams) < count:
                connection = await self._connect()
                allowed = connection.h2.remote_settings.max_concurrent_streams
                for _ in range(min(allowed, count - len(self.streams))):
                    self._start_stream(connection)
                connection.flush()
            await self._push(stall_s)

    async def _connect(self) -> _Connection:
        sock = await connect_from(self.source, self.port)
        reader, writer = await asyncio.open_connection(sock=sock)
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        conn.initiate_connection()
        connection = _Connection(reader, writer, conn)
        self.connections.append(connection)
        connection.flush()
        while not connection.settled and not connection.terminated:
            if not await connection.read_events(5):  # the server's SETTINGS
                break
        return connection

    def _start_stream(self, connection: _Connection) -> None:
        stream_id = connection.h2.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", ARCHIVE_PATH),
            (":authority", f"127.0.0.1:{self.port}"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            *self.metadata,
        ]
        connection.h2.send_headers(stream_id, headers)
        # A gRPC message: not compressed, its length, then all of it but the last byte.
        head = struct.pack(">BI", 0, self.message_bytes)
        connection.streams[stream_id] = _Stream(stream_id, head, self.message_bytes - 1)

    async def _push(self, stall_s: float) -> None:
        while True:
            sent = sum(c.send_what_the_window_allows() for c in self.connections)
            self.bytes_sent += sent
            pending = [
                c
                for c in self.connections
                if not c.terminated
                and any(s.left and not s.closed_by_server for s in c.streams.values())
            ]
            if not pending:
                return
            heard = await asyncio.gather(*(c.read_events(stall_s) for c in pending))
            if not any(heard) and not sent:
                return  # the server takes no more: the streams are held half-open

    async def keep_reading(self, seconds: float) -> None:
        """Answer the server (pings, settings) for a while, as a live client does."""
        live = [c for c in self.connections if not c.terminated]
        await asyncio.gather(*(c.read_events(seconds) for c in live))

    async def close(self) -> None:
        for connection in self.connections:
            with contextlib.suppress(Exception):
                connection.writer.transport.abort()
        self.connections.clear()
