"""Assemble the gRPC server: the archive service, health and reflection."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from lead_archive_client.vocabulary import MAX_MESSAGE_BYTES, SERVICE_NAME
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from lead_archive_server.access.auth_limit import FailedAuthLimiter
from lead_archive_server.access.guard import AccessGuard, Clock, utc_now
from lead_archive_server.core.db import Database
from lead_archive_server.runtime.ops import Operations
from lead_archive_server.runtime.ports import GRPC_NO_PORT_SHARING, PortUnavailable, ensure_free
from lead_archive_server.runtime.settings import Settings, env_name
from lead_archive_server.runtime.tls import server_credentials
from lead_archive_server.service.calls import CurrentCaller
from lead_archive_server.service.servicer import LeadArchiveServicer

# HTTP/2 windows and frames of 64 KiB: a stream can hold no more of the server's memory than
# one whole request message (MAX_MESSAGE_BYTES), and grpc's default 4 MiB windows let every
# half-sent message of 1 MiB in (1,000 such streams took 1 GiB).
WINDOW_BYTES = 64 * 1024
# Pings: answer a client's at most one every 5 minutes without calls (grpc's default, written
# down), and ping an idle client every minute, dropping one that does not answer in 20 s (a
# peer that vanished without closing its connection).
MIN_CLIENT_PING_INTERVAL_MS = 300_000
SERVER_PING_INTERVAL_MS = 60_000
SERVER_PING_TIMEOUT_MS = 20_000


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def grpc_options(settings: Settings) -> list[tuple[str, int]]:
    """Channel arguments bounding what any one client can hold: streams, bytes, time."""
    grpc_port, grace_s = settings.grpc, settings.server.shutdown_grace_s
    return [
        GRPC_NO_PORT_SHARING,
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_concurrent_streams", grpc_port.max_concurrent_streams),
        ("grpc.http2.lookahead_bytes", WINDOW_BYTES),
        ("grpc.http2.bdp_probe", 0),  # windows stay at WINDOW_BYTES instead of growing
        ("grpc.http2.max_frame_size", WINDOW_BYTES),
        ("grpc.server_handshake_timeout_ms", _ms(grpc_port.handshake_timeout_s)),
        ("grpc.max_connection_idle_ms", _ms(grpc_port.max_connection_idle_s)),
        ("grpc.max_connection_age_ms", _ms(grpc_port.max_connection_age_s)),
        ("grpc.max_connection_age_grace_ms", _ms(grace_s)),
        ("grpc.keepalive_time_ms", SERVER_PING_INTERVAL_MS),
        ("grpc.keepalive_timeout_ms", SERVER_PING_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.min_ping_interval_without_data_ms", MIN_CLIENT_PING_INTERVAL_MS),
        ("grpc.http2.max_ping_strikes", 2),
    ]


def create_server(
    settings: Settings,
    db: Database,
    *,
    clock: Clock = utc_now,
    port: int | None = None,
    ops: Operations | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Build (not start) the server; port 0 picks a free one, which is returned.

    The port serves TLS when settings name a certificate and key for it. A port in use
    (by anyone: it is never shared) raises PortUnavailable naming the port's setting.
    """
    server_settings, grpc_port = settings.server, settings.grpc
    port = grpc_port.port if port is None else port
    setting = env_name("grpc_port")
    if port:  # checked first for a clear reason; grpc's own error only says "failed to bind"
        ensure_free(grpc_port.host, port, setting)
    ops = ops or Operations(settings, db)
    server = grpc.aio.server(
        # Outermost first: the reader decides whether the message is read at all; the
        # observer then sees every call, refused ones too.
        interceptors=[ops.reader, ops.observer, ops.drain_gate],
        options=grpc_options(settings),
    )
    limiter = FailedAuthLimiter(max_failures=server_settings.auth_failure_limit)
    guard = AccessGuard(
        db, ops.office_hours, clock, limiter, caller=CurrentCaller(), key_uses=ops.key_uses
    )
    servicer = LeadArchiveServicer(
        db,
        guard,
        attempts=server_settings.retry_attempts,
        dialer_guard=server_settings.dialer_guard,
        range_locks=server_settings.range_locks,
        admin_log=ops.admin_log,
    )
    pb_grpc.add_LeadArchiveServiceServicer_to_server(servicer, server)
    health_pb2_grpc.add_HealthServicer_to_server(ops.health, server)
    for name in ("", SERVICE_NAME):
        asyncio.get_event_loop().create_task(
            ops.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        )
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"{grpc_port.host}:{port}"
    try:
        if grpc_port.tls is None:
            return server, server.add_insecure_port(address)
        return server, server.add_secure_port(address, server_credentials(grpc_port.tls))
    except RuntimeError:  # taken between the check and now
        raise PortUnavailable(f"{setting}: cannot listen on {address}") from None
