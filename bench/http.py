"""A lean HTTP/1.1 client on one keep-alive connection, so REST timings measure the shim.

httpx spends 1-2 ms of CPU per request on this 2-core machine, more than the shim itself;
on a machine that busy, that CPU would land in the REST timings. This client writes the
request bytes and reads the status line, the headers and a Content-Length body, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

TIMEOUT_S = 60


@dataclass(frozen=True)
class Reply:
    """Status code and body of one response."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> object:
        return json.loads(self.content)


class _ClosedBeforeReply(ConnectionError):
    """The connection ended before any byte of a response came back."""


class KeepAliveClient:
    """One connection, one request at a time, reopened if the server closes it."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self._host, self._port = host, port
        self._head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()

    async def post(self, path: str, body: bytes) -> Reply:
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n{self._head}"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        async with self._lock, asyncio.timeout(TIMEOUT_S):
            reused = self._streams is not None
            try:
                return await self._exchange(request)
            except _ClosedBeforeReply:
                if not reused:
                    raise
            # The server had closed the idle connection (keep-alive timeout) before it read
            # the request, so sending it again on a new connection cannot run it twice.
            return await self._exchange(request)

    async def _exchange(self, request: bytes) -> Reply:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._streams
        try:
            writer.write(request)
            status, headers = await _read_head(reader)
        except (_ClosedBeforeReply, ConnectionResetError, BrokenPipeError):
            await self.close()
            raise _ClosedBeforeReply() from None
        content = await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Reply(status, content)

    async def close(self) -> None:
        if self._streams is not None:
            _, writer = self._streams
            self._streams = None
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_line = await reader.readline()
    if not status_line:
        raise _ClosedBeforeReply()
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        raise ValueError("chunked responses are not supported by this client")
    return status, headers
