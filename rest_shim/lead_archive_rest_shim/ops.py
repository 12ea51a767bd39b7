"""Operations endpoints on the REST port: liveness, readiness and Prometheus metrics.

``/healthz`` answers 200 while the process runs. ``/readyz`` answers 200 only when the gRPC
server answers its health check with SERVING, which it does only while it reaches the
database and is not shutting down; else 503. ``/metrics`` exports prometheus-client's
default registry: the shim's metrics, and in ``lead-archive serve`` the gRPC server's too.
A shim in front of a gRPC server elsewhere (``lead-archive rest``) exports only its own
(``lead_archive_http_*``, and the process's): lead counts, phases and the database are the
gRPC process's to report, and zeros here would pretend otherwise.
None of them needs a key, and none shows anything secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import grpc  # type: ignore[import-untyped, unused-ignore]
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lead_archive_client.vocabulary import SERVICE_NAME
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

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


SHIM_METRICS_PREFIX = "lead_archive_http_"


class ShimMetricsOnly(Collector):
    """The default registry without the gRPC server's lead_archive_* metrics."""

    def collect(self) -> Iterator[Metric]:
        """Every family but another lead_archive_* one than the shim's own."""
        for family in REGISTRY.collect():
            name = family.name
            if not name.startswith("lead_archive_") or name.startswith(SHIM_METRICS_PREFIX):
                yield family


_SHIM_ONLY = ShimMetricsOnly()


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of the process's metrics (see the module's docstring)."""
    with_server = bool(getattr(request.app.state, "server_metrics", False))
    body = generate_latest(REGISTRY if with_server else _SHIM_ONLY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
