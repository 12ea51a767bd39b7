"""Limits over the real stack: failed authentications per client, and request size."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from fastapi import FastAPI
from lead_archive_rest_shim.main import create_app
from lead_archive_server.access import guard as access
from lead_archive_server.access.auth_limit import MAX_FAILURES
from lead_archive_server.access.keys import create_key
from lead_archive_server.runtime.app import create_server
from lead_archive_server.runtime.settings import Settings
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.support import TestDb
from tests.support_shim import ENDPOINT, full_request

UNAUTHORIZED = {"message": "unable to validate api user"}
BAD = {"Authorization": "Key=not-a-real-key-0123456789"}


@dataclass
class Rig:
    app: FastAPI
    port: int
    key: str
    tdb: TestDb

    def http(self, client_host: str) -> httpx.AsyncClient:
        """An HTTP client that the shim sees coming from client_host."""
        transport = httpx.ASGITransport(app=self.app, client=(client_host, 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://shim")


@pytest.fixture
async def rig(tdb: TestDb) -> AsyncIterator[Rig]:
    # The shim in front is a proxy the server is told to trust, as a separate `rest` would be.
    settings = Settings(
        database_url=tdb.db.url.url(),
        office_hours="none",
        timezone="UTC",
        trusted_proxies="127.0.0.1",
    )
    server, port = create_server(settings, tdb.db, port=0)
    await server.start()
    app = create_app(f"127.0.0.1:{port}")
    async with app.router.lifespan_context(app):
        yield Rig(app, port, await create_key(tdb.db, "6666"), tdb)
    await server.stop(None)


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key the server looks up (a spy: the lookup itself still runs)."""
    seen: list[str] = []
    real = access.live_key

    async def spy(db, key: str):
        seen.append(key)
        return await real(db, key)

    monkeypatch.setattr(access, "live_key", spy)
    return seen


async def test_rest_client_with_too_many_failures_is_refused_without_a_lookup(
    rig: Rig, lookups: list[str]
) -> None:
    ids = await rig.tdb.seed(2)
    good = {"Authorization": f"Key={rig.key}"}
    async with rig.http("198.51.100.7") as attacker, rig.http("198.51.100.8") as other:
        for _ in range(MAX_FAILURES):
            response = await attacker.post(ENDPOINT, json=full_request(ids), headers=BAD)
            assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
        looked_up = len(lookups)
        response = await attacker.post(ENDPOINT, json=full_request(ids), headers=BAD)
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
        assert len(lookups) == looked_up  # refused without a database lookup
        response = await attacker.post(ENDPOINT, json=full_request(ids[:1]), headers=good)
        assert response.status_code == 200, response.text  # its valid key still works
        response = await other.post(ENDPOINT, json=full_request(ids[1:]), headers=good)
        assert response.status_code == 200, response.text  # another client is not affected
    assert looked_up == MAX_FAILURES


async def test_grpc_peer_with_too_many_failures_is_refused(rig: Rig, lookups: list[str]) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{rig.port}") as channel:
        stub = pb_grpc.LeadArchiveServiceStub(channel)
        for _ in range(MAX_FAILURES + 1):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.CheckAccess(
                    pb.CheckAccessRequest(),
                    metadata=[("authorization", "Key=bad-key-0123456789abcdef")],
                )
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert len(lookups) == MAX_FAILURES  # the last one was refused unchecked
        reply = await stub.CheckAccess(
            pb.CheckAccessRequest(), metadata=[("authorization", f"Key={rig.key}")]
        )
    assert reply.api_user == "6666"


async def test_body_over_1_mib_is_refused_before_parsing(rig: Rig) -> None:
    ids = await rig.tdb.seed(1)
    body = (
        b'{"insert_leads": true, "update_leads": true, "delete_leads": true, "lead_ids": [%d'
        % ids[0]
    )
    big = body + b", 1" * 400_000 + b"]}"
    expected = {
        "message": "request body is larger than 1048576 bytes (1 MiB); it was not read",
        "lead_errors": 0,
        "lead_ids": [],
    }
    good = {"Authorization": f"Key={rig.key}"}
    async with rig.http("198.51.100.9") as http:
        response = await http.post(ENDPOINT, content=big, headers=good)
        assert (response.status_code, response.json()) == (500, expected)

        async def chunks():  # no Content-Length: the streamed size is capped too
            for start in range(0, len(big), 65536):
                yield big[start : start + 65536]

        response = await http.post(ENDPOINT, content=chunks(), headers=good)
        assert (response.status_code, response.json()) == (500, expected)
        response = await http.post(ENDPOINT, content=big, headers=BAD)
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED)  # 401 first
        small = body + b"]}"
        response = await http.post(ENDPOINT, content=small, headers=good)
        assert response.status_code == 200, response.text
    assert await rig.tdb.count("vicidial_list") == 0


async def test_grpc_message_over_1_mib_is_refused(rig: Rig) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{rig.port}") as channel:
        stub = pb_grpc.LeadArchiveServiceStub(channel)
        request = pb.ArchiveLeadsRequest(
            insert_leads=True, update_leads=True, delete_leads=True, lead_ids=[2**62] * 150_000
        )
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ArchiveLeads(request, metadata=[("authorization", f"Key={rig.key}")])
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
