"""Assemble the gRPC server: the archive service, health and reflection."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from lead_archive_client.vocabulary import MAX_REQUEST_BYTES, SERVICE_NAME
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from lead_archive_server.access.auth_limit import FailedAuthLimiter
from lead_archive_server.access.guard import AccessGuard, Clock, utc_now
from lead_archive_server.core.db import Database
from lead_archive_server.runtime.ops import Operations
from lead_archive_server.runtime.ports import GRPC_NO_PORT_SHARING, PortUnavailable, ensure_free
from lead_archive_server.runtime.settings import Settings
from lead_archive_server.runtime.tls import server_credentials
from lead_archive_server.service.calls import CurrentCaller
from lead_archive_server.service.servicer import LeadArchiveServicer

GRPC_PORT_SETTING = "LEAD_ARCHIVE_GRPC_PORT"


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
    (by anyone: it is never shared) raises PortUnavailable naming LEAD_ARCHIVE_GRPC_PORT.
    """
    port = settings.grpc_port if port is None else port
    if port:  # checked first for a clear reason; grpc's own error only says "failed to bind"
        ensure_free(settings.grpc_host, port, GRPC_PORT_SETTING)
    ops = ops or Operations(settings, db)
    server = grpc.aio.server(
        interceptors=[ops.observer, ops.drain_gate],  # the observer sees refused calls too
        options=[("grpc.max_receive_message_length", MAX_REQUEST_BYTES), GRPC_NO_PORT_SHARING],
    )
    limiter = FailedAuthLimiter(max_failures=settings.auth_failure_limit)
    guard = AccessGuard(db, ops.office_hours, clock, limiter, caller=CurrentCaller())
    servicer = LeadArchiveServicer(
        db,
        guard,
        attempts=settings.retry_attempts,
        dialer_guard=settings.dialer_guard,
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
    address = f"{settings.grpc_host}:{port}"
    tls = settings.grpc_tls
    try:
        if tls is None:
            return server, server.add_insecure_port(address)
        return server, server.add_secure_port(address, server_credentials(tls))
    except RuntimeError:  # taken between the check and now
        raise PortUnavailable(f"{GRPC_PORT_SETTING}: cannot listen on {address}") from None
