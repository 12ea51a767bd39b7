"""Per-request context of the shim: request id, client address, and what the upstream said.

``RequestContextMiddleware`` opens a ``RequestRecord`` for every HTTP request, answers with
its id in ``X-Request-Id``, and writes one log line and the HTTP metrics when the response
is done. The gRPC client interceptor in ``upstream`` reads the same record to forward the
id and the client's address, and fills in the user and the counts the server returned.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from lead_archive_client.vocabulary import (
    GRPC_COUNT_FIELDS,
    LATENCY_BUCKETS,
    REQUEST_ID_KEY,
    request_id_or_new,
)
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("rest_shim.requests")

# Paths with their own metric label; any other path is "other", to keep label sets small.
KNOWN_PATHS = frozenset(
    {
        "/vicidial/leads/archive",
        "/vicidial/leads/restore",
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
    api_user: str = ""
    lead_count: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    upstream_outcome: str = ""


_current: ContextVar[RequestRecord | None] = ContextVar("rest_shim_request", default=None)


def current_request() -> RequestRecord | None:
    """The record of the HTTP request being answered, if any."""
    return _current.get()


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    return "rejected" if status < 500 else "error"


class RequestContextMiddleware:
    """Request id, one log line and the metrics for every HTTP request (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client")
        record = RequestRecord(
            request_id=request_id_or_new(headers.get(REQUEST_ID_KEY)),
            client_ip=str(client[0]) if client else "",
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
