"""An in-process stack for the operations tests: gRPC server, REST shim, and clients of both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import httpx
from google.rpc import error_details_pb2, status_pb2
from lead_archive_client.vocabulary import ERROR_DOMAIN, PROBLEMS, Reason
from lead_archive_rest_shim.main import create_app
from lead_archive_rest_shim.upstream import UpstreamTls
from lead_archive_server.access.keys import create_key
from lead_archive_server.runtime.app import create_server
from lead_archive_server.runtime.ops import Operations
from lead_archive_server.runtime.settings import Settings
from prometheus_client.parser import text_string_to_metric_families
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.support import TestDb

ENDPOINT = "/vicidial/leads/archive"
NIGHT = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # a Sunday night: outside office hours


def settings_for(tdb: TestDb, **overrides: Any) -> Settings:
    values = {"database_url": tdb.db.url.url(), "office_hours": "mon-fri 08:00-18:00"}
    return Settings(**(values | overrides))


def archive_body(lead_ids: list[int], **flags: bool) -> dict[str, Any]:
    return (
        {"insert_leads": True, "update_leads": True, "delete_leads": True}
        | flags
        | {"lead_ids": lead_ids}
    )


@dataclass
class Stack:
    tdb: TestDb
    key: str
    stub: pb_grpc.LeadArchiveServiceStub
    channel: grpc.aio.Channel
    http: httpx.AsyncClient
    ops: Operations
    grpc_port: int

    @property
    def auth(self) -> list[tuple[str, str]]:
        return [("authorization", f"Key={self.key}")]

    def archive_call(self, lead_ids: list[int], metadata=None, **flags: bool):
        """The gRPC call object (await it for the response; it keeps the trailing metadata)."""
        request = pb.ArchiveLeadsRequest(**archive_body(lead_ids, **flags))
        return self.stub.ArchiveLeads(request, metadata=self.auth + list(metadata or []))

    async def post(self, lead_ids: list[int], headers=None, **flags: bool) -> httpx.Response:
        sent = {"Authorization": f"Key={self.key}"} | dict(headers or {})
        return await self.http.post(ENDPOINT, json=archive_body(lead_ids, **flags), headers=sent)

    async def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics, keyed by (name, sorted labels)."""
        response = await self.http.get("/metrics")
        assert response.status_code == 200, response.text
        return samples(response.text)


def lead_errors(error: grpc.aio.AioRpcError) -> pb.LeadErrors:
    """The typed detail the server packs into google.rpc.Status."""
    raw = dict(error.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    assert status.code == error.code().value[0]
    detail, info = pb.LeadErrors(), error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(detail)
    assert status.details[1].Unpack(info)
    # AIP-193: the reason is the vocabulary's, in the API's domain, and says the same thing.
    assert info.domain == ERROR_DOMAIN
    assert PROBLEMS[Reason(info.reason)].code == error.code().name
    return detail


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@asynccontextmanager
async def ops_stack(
    tdb: TestDb,
    *,
    client: tuple[str, int] = ("127.0.0.1", 50000),
    channel_credentials: grpc.ChannelCredentials | None = None,
    upstream_tls: UpstreamTls | None = None,
    **overrides: Any,
) -> AsyncIterator[Stack]:
    """gRPC server on a free port, the shim in front of it (httpx, in process), and a key.

    ``client`` is the address the shim sees the HTTP client at.
    """
    settings = settings_for(tdb, **overrides)
    ops = Operations(settings, tdb.db)
    server, port = create_server(settings, tdb.db, clock=lambda: NIGHT, port=0, ops=ops)
    await server.start()
    target = f"127.0.0.1:{port}"
    if channel_credentials is None:
        channel = grpc.aio.insecure_channel(target)
    else:
        channel = grpc.aio.secure_channel(target, channel_credentials)
    # Like `lead-archive serve`: the shim proves it belongs to this process while draining.
    app = create_app(
        target,
        upstream_tls=upstream_tls,
        upstream_metadata=ops.gate.metadata,
        server_metrics=True,
    )
    transport = httpx.ASGITransport(app=app, client=client)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://shim") as http,
        ):
            key = await create_key(tdb.db, "6666")
            stub = pb_grpc.LeadArchiveServiceStub(channel)
            yield Stack(tdb, key, stub, channel, http, ops, port)
    finally:
        await channel.close()
        await server.stop(None)
        await ops.stop()
