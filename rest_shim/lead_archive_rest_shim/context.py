"""Per-request context of the shim: request id, client address, and what the upstream said.

``RequestContextMiddleware`` opens a ``RequestRecord`` for every HTTP request, answers with
its id in ``X-Request-Id``, and writes one log line and the HTTP metrics when the response
is done. The id is always the shim's own; an ``X-Request-Id`` the client sent is logged
beside it as ``client_request_id``. The client's address is the TCP peer's, or, when the
peer is a proxy the operator trusts, the right-most ``X-Forwarded-For`` entry that is not
one of those proxies; an entry that is not an IP address ends the walk and is never used.
The gRPC client interceptor in ``upstream`` reads the same record to forward the ids and
the client's address, and fills in the user and the counts the server returned.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from lead_archive_client.networks import IpNetwork, ip_text, is_trusted
from lead_archive_client.vocabulary import (
    API_PATHS,
    FORWARDED_FOR_KEY,
    GRPC_COUNT_FIELDS,
    LATENCY_BUCKETS,
    REQUEST_ID_KEY,
    new_request_id,
    safe_request_id,
)
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("rest_shim.requests")

# Paths with their own metric label; any other path is "other", to keep label sets small.
KNOWN_PATHS = frozenset(
    {
        *API_PATHS,
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/openapi.json",
    }
)
# Probes and scrapes come every few seconds: logged only at DEBUG.
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

HTTP_REQUESTS = Counter(
    "lead_archive_http_requests",
    "HTTP requests to the REST shim, by path and status.",
    ["path", "status"],
)
HTTP_SECONDS = Histogram(
    "lead_archive_http_request_duration_seconds",
    "Time to answer an HTTP request, by path.",
    ["path"],
    buckets=LATENCY_BUCKETS,
)


@dataclass
class RequestRecord:
    """What one HTTP request was and what became of it."""

    request_id: str
    client_ip: str
    client_request_id: str = ""
    api_user: str = ""
    lead_count: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    upstream_outcome: str = ""


_current: ContextVar[RequestRecord | None] = ContextVar("rest_shim_request", default=None)


def current_request() -> RequestRecord | None:
    """The record of the HTTP request being answered, if any."""
    return _current.get()


def client_ip(peer: str, forwarded_for: list[str], trusted: tuple[IpNetwork, ...]) -> str:
    """The client's address: the peer's, or the one a trusted proxy forwarded."""
    address = ip_text(peer)
    if not is_trusted(address, trusted):
        return address
    entries = [e for value in forwarded_for for e in value.split(",")]
    for entry in reversed(entries):
        forwarded = ip_text(entry)
        if not forwarded:
            break  # not an address: ignored, and nothing left of it is believed
        address = forwarded
        if not is_trusted(address, trusted):
            break
    return address


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    return "rejected" if status < 500 else "error"


class RequestContextMiddleware:
    """Request id, one log line and the metrics for every HTTP request (pure ASGI)."""

    def __init__(self, app: ASGIApp, trusted_proxies: tuple[IpNetwork, ...] = ()) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client_id, forwarded = "", []
        for name, value in scope["headers"]:
            if name == REQUEST_ID_KEY.encode():
                client_id = safe_request_id(value.decode("latin-1"))
            elif name == FORWARDED_FOR_KEY.encode():
                forwarded.append(value.decode("latin-1"))
        client = scope.get("client")
        record = RequestRecord(
            request_id=new_request_id(),
            client_ip=client_ip(str(client[0]) if client else "", forwarded, self.trusted_proxies),
            client_request_id=client_id,
        )
        status = 500
        token = _current.set(record)
        started = perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", record.request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)
            _finish(scope, record, status, perf_counter() - started)


def _finish(scope: Scope, record: RequestRecord, status: int, seconds: float) -> None:
    path = str(scope.get("path", ""))
    label = path if path in KNOWN_PATHS else "other"
    HTTP_REQUESTS.labels(label, str(status)).inc()
    HTTP_SECONDS.labels(label).observe(seconds)
    fields: dict[str, Any] = {
        "request_id": record.request_id,
        **({"client_request_id": record.client_request_id} if record.client_request_id else {}),
        "method": scope.get("method", ""),
        "path": label,
        "status": status,
        "outcome": _outcome(status),
        "duration_ms": round(seconds * 1000, 1),
        "client_ip": record.client_ip,
        "api_user": record.api_user,
    }
    if record.lead_count is not None:
        fields["lead_count"] = record.lead_count
        fields.update({name: record.counts.get(name, 0) for name in GRPC_COUNT_FIELDS})
        fields["upstream"] = record.upstream_outcome
    level = logging.DEBUG if path in _QUIET_PATHS else logging.INFO
    log.log(level, "%s %s %d", fields["method"], label, status, extra={"fields": fields})
