"""Assemble the gRPC server: the archive service, health and reflection."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from server.access import AccessGuard, Clock, office_hours_source, utc_now
from server.db import Database
from server.servicer import LeadArchiveServicer
from server.settings import Settings

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["LeadArchiveService"].full_name
# A request of 500 lead IDs is a few kB; anything near this is not a request of ours.
MAX_RECEIVE_BYTES = 1024 * 1024


def create_server(
    settings: Settings, db: Database, *, clock: Clock = utc_now, port: int | None = None
) -> tuple[grpc.aio.Server, int]:
    """Build (not start) the server; port 0 picks a free one, which is returned."""
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_RECEIVE_BYTES)])
    guard = AccessGuard(db, office_hours_source(settings, db), clock)
    servicer = LeadArchiveServicer(db, guard, attempts=settings.retry_attempts)
    pb_grpc.add_LeadArchiveServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        asyncio.get_event_loop().create_task(
            health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        )
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    bound = server.add_insecure_port(
        f"{settings.grpc_host}:{settings.grpc_port if port is None else port}"
    )
    return server, bound
