"""Bounds on what one HTTP client can make the REST port hold: header bytes and count, the
time to send a request's head, and the number of open connections.

uvicorn bounds none of these with httptools (a 32 MiB header, 64,000 headers, or a
connection that never sends a byte were all kept). ``bounded_protocol`` returns uvicorn's
httptools protocol with the limits added; idle keep-alive is uvicorn's own
``timeout_keep_alive``. A refused request gets a short JSON answer and the connection is
closed (after a short linger that reads and drops what the client is still sending, so it
gets to read the answer): 431 for a head over the limits, 408 for a head not sent in time,
503 when too many connections are open.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADERS_TOO_LARGE = "request headers are larger than {limit} bytes"
TOO_MANY_HEADERS = "request has more than {limit} headers"
HEAD_TOO_SLOW = "request headers were not received within {limit:g} s"
TOO_MANY_CONNECTIONS = "too many open connections ({limit}); try again shortly"
# How long a refused connection is kept to drop what the client still sends.
LINGER_S = 2.0
_REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


@dataclass(frozen=True)
class HttpLimits:
    """The settings LEAD_ARCHIVE_HTTP_MAX_HEADER_BYTES, _MAX_HEADERS, _HEADER_TIMEOUT_S and
    _MAX_CONNECTIONS."""

    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    max_connections: int


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request already answered."""


def bounded_protocol(limits: HttpLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with these limits."""

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = True
            self._head_bytes = 0
            self._header_count = 0
            self._head_timer: asyncio.TimerHandle | None = None
            self._refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                self._refuse(503, TOO_MANY_CONNECTIONS.format(limit=limits.max_connections))
                return
            self._start_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._in_head:
                self._head_bytes += len(data)
            self._unset_keepalive_if_required()
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                if not self._refused:  # a callback of ours stops the parser after answering
                    self.logger.warning("Invalid HTTP request received.")
                    self.send_400_response("Invalid HTTP request received.")
                return
            except httptools.HttpParserUpgrade:
                super().data_received(b"")  # uvicorn's own upgrade handling (none here)
                return
            if not self._refused and self._in_head and self._head_bytes > limits.max_header_bytes:
                self._refuse(431, HEADERS_TOO_LARGE.format(limit=limits.max_header_bytes))

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._header_count = 0
            if self._head_timer is None:
                self._start_head_timer()

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            if self._header_count > limits.max_headers:
                self._refuse(431, TOO_MANY_HEADERS.format(limit=limits.max_headers))
                raise _Refused
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._stop_head_timer()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head, self._head_bytes = True, 0

        def _start_head_timer(self) -> None:
            self._head_timer = self.loop.call_later(limits.header_timeout_s, self._head_late)

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_late(self) -> None:
            self._head_timer = None
            if not self._in_head or self.transport.is_closing():
                return
            if self._head_bytes == 0:  # never said a word: nothing to answer
                self._refused = True
                self.transport.close()
                return
            self._refuse(408, HEAD_TOO_SLOW.format(limit=limits.header_timeout_s))

        def _refuse(self, status: int, message: str) -> None:
            self._refused = True
            self._stop_head_timer()
            self.logger.warning("HTTP request refused (%d): %s", status, message)
            body = json.dumps({"message": message}).encode()
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, _REASONS[status], len(body), body)
            )
            if self.transport.can_write_eof():
                self.transport.write_eof()  # the answer is whole; data_received drops the rest
                self.loop.call_later(LINGER_S, self.transport.close)
            else:
                self.transport.close()

    return BoundedHttpToolsProtocol
