"""Operations endpoints on the REST port: liveness, readiness and Prometheus metrics.

``/healthz`` answers 200 while the process runs. ``/readyz`` answers 200 only when the gRPC
server answers its health check with SERVING, which it does only while it reaches the
database and is not shutting down; else 503. ``/metrics`` exports prometheus-client's
default registry: the shim's metrics, and in ``lead-archive serve`` the gRPC server's too.
None of them needs a key, and none shows anything secret.
"""

from __future__ import annotations

from typing import cast

import grpc  # type: ignore[import-untyped, unused-ignore]
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lead_archive_client.vocabulary import SERVICE_NAME
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

READY_TIMEOUT_S = 3.0

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """The process is up."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """The gRPC server is reachable and reports it can serve (database reachable)."""
    stub = health_pb2_grpc.HealthStub(cast(grpc.aio.Channel, request.app.state.channel))
    try:
        answer = await stub.Check(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=READY_TIMEOUT_S
        )
    except grpc.aio.AioRpcError as error:
        reason = f"archive service unreachable ({error.code().name})"
        return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
    if answer.status != health_pb2.HealthCheckResponse.SERVING:
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
        reason = f"archive service is {status} (database unreachable or shutting down)"
        return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
async def metrics() -> Response:
    """Prometheus text exposition of the process's metrics."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
