"""Bounds on what one HTTP client can make the REST port hold: header bytes and count, the
time to send a request's head and the whole request, and open connections, in all and per
client address.

uvicorn bounds none of these with httptools (a 32 MiB header, 64,000 headers, a connection
that never sends a byte, or a body sent one byte at a time were all kept).
``bounded_protocol`` returns uvicorn's httptools protocol with the limits added; idle
keep-alive is uvicorn's own ``timeout_keep_alive``. A refused request gets a short JSON
answer and the connection is closed (after a short linger that reads and drops what the
client is still sending, so it gets to read the answer): 431 for a head over the limits
(counted from the parsed head, so it holds however the head arrives: in one read or many),
408 for a head or a whole request not sent in time, 503 when too many connections are open,
in all or from the client's address (proxies named in LEAD_ARCHIVE_TRUSTED_PROXIES speak for
many clients and are not counted).

This subclasses uvicorn's private ``HttpToolsProtocol``: pyproject.toml pins uvicorn to the
versions tested, and ``tests/e2e/test_http_bounds.py`` fails loudly when what is used here
(its parser callbacks, ``cycle`` and the cycle's ``response_started``, ``disconnected`` and
``message_event``) changes.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httptools
from lead_archive_client.networks import IpNetwork, client_group, ip_text, is_trusted
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADERS_TOO_LARGE = "request headers are larger than {limit} bytes"
TOO_MANY_HEADERS = "request has more than {limit} headers"
HEAD_TOO_SLOW = "request headers were not received within {limit:g} s"
TOO_MANY_CONNECTIONS = "too many open connections ({limit}); try again shortly"
TOO_MANY_FROM_CLIENT = "too many open connections from your address ({limit}); try again shortly"
REQUEST_TOO_SLOW = "request was not received within {limit:g} s"
# The request line around its URL ("POST " and " HTTP/1.1\r\n"), and around each header
# (": " and "\r\n"): what a parsed head adds up to, to compare with the byte limit.
_LINE_BYTES = 16
_HEADER_BYTES = 4
# How long a refused connection is kept to drop what the client still sends.
LINGER_S = 2.0
_REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


@dataclass(frozen=True)
class HttpLimits:
    """The settings LEAD_ARCHIVE_HTTP_MAX_HEADER_BYTES, _MAX_HEADERS, _HEADER_TIMEOUT_S,
    _MAX_CONNECTIONS, _REQUEST_TIMEOUT_S, _MAX_CONNECTIONS_PER_CLIENT and
    LEAD_ARCHIVE_TRUSTED_PROXIES (whose connections are not counted per address)."""

    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    max_connections: int
    request_timeout_s: float = 30.0
    max_connections_per_client: int = 64
    trusted_proxies: tuple[IpNetwork, ...] = ()


class _PerClient:
    """Open connections per client (an IPv4 address or an IPv6 /64), shared by every
    connection of one server."""

    def __init__(self, limits: HttpLimits) -> None:
        self._limits = limits
        self._open: dict[str, int] = {}

    def admit(self, address: str) -> bool:
        """Count one more connection from address; False (not counted) over the limit."""
        if is_trusted(address, self._limits.trusted_proxies):
            return True
        client = client_group(address)
        count = self._open.get(client, 0)
        if count >= self._limits.max_connections_per_client:
            return False
        self._open[client] = count + 1
        return True

    def release(self, address: str) -> None:
        """A counted connection from address closed."""
        if is_trusted(address, self._limits.trusted_proxies):
            return
        client = client_group(address)
        count = self._open.pop(client, 0) - 1
        if count > 0:
            self._open[client] = count


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request already answered."""


def bounded_protocol(limits: HttpLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with these limits."""
    per_client = _PerClient(limits)

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = True
            self._head_bytes = 0  # bytes received while in the head, read by read
            self._head_parsed = 0  # bytes of the head the parser handed over
            self._header_count = 0
            self._head_timer: asyncio.TimerHandle | None = None
            self._request_timer: asyncio.TimerHandle | None = None
            self._refused = False
            self._address: str | None = None  # counted in per_client

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                self._refuse(503, TOO_MANY_CONNECTIONS.format(limit=limits.max_connections))
                return
            address = ip_text(self.client[0]) if self.client else ""
            if not per_client.admit(address):
                limit = limits.max_connections_per_client
                self._refuse(503, TOO_MANY_FROM_CLIENT.format(limit=limit))
                return
            self._address = address
            self._start_timers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timers()
            if self._address is not None:
                per_client.release(self._address)
                self._address = None
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
            self._header_count, self._head_parsed = 0, _LINE_BYTES
            if self._head_timer is None:
                self._start_timers()

        def on_url(self, url: bytes) -> None:
            self._count_head(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            if self._header_count > limits.max_headers:
                self._refuse(431, TOO_MANY_HEADERS.format(limit=limits.max_headers))
                raise _Refused
            self._count_head(len(name) + len(value) + _HEADER_BYTES)
            super().on_header(name, value)

        def _count_head(self, size: int) -> None:
            """Refuse a head over the byte limit even when it all came in one read."""
            self._head_parsed += size
            if self._head_parsed > limits.max_header_bytes:
                self._refuse(431, HEADERS_TOO_LARGE.format(limit=limits.max_header_bytes))
                raise _Refused

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._stop_head_timer()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head, self._head_bytes = True, 0
            self._stop_timers()

        def _start_timers(self) -> None:
            self._head_timer = self.loop.call_later(limits.header_timeout_s, self._head_late)
            self._request_timer = self.loop.call_later(limits.request_timeout_s, self._request_late)

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _stop_timers(self) -> None:
            self._stop_head_timer()
            if self._request_timer is not None:
                self._request_timer.cancel()
                self._request_timer = None

        def _request_late(self) -> None:
            """The whole request did not arrive in time (a body sent byte by byte)."""
            self._request_timer = None
            if self.transport.is_closing():
                return
            if self._in_head:
                self._head_late()
                return
            cycle = self.cycle
            if cycle.response_started:
                # Answered already (a 401 before the body): the rest is not waited for.
                self.transport.close()
                return
            cycle.disconnected = True  # the app waiting for the body learns the client left
            cycle.message_event.set()
            self._refuse(408, REQUEST_TOO_SLOW.format(limit=limits.request_timeout_s))

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
            self._stop_timers()
            self.connections.discard(self)  # a lingering refused connection holds no slot
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
