"""Health and readiness: the gRPC health service follows the database; /healthz, /readyz."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lead_archive_client.vocabulary import SERVICE_NAME
from lead_archive_rest_shim.main import create_app
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database

from tests.support import TestDb, wait_until
from tests.support_net import TcpProxy, free_port
from tests.support_ops import ops_stack, samples

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def health_of(channel: grpc.aio.Channel, service: str = SERVICE_NAME) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return (await stub.Check(health_pb2.HealthCheckRequest(service=service))).status


@pytest.fixture
async def proxied(databases: dict[str, TestDb]) -> AsyncIterator[tuple[TcpProxy, TestDb]]:
    """The InnoDB test database reached through a proxy the test can cut."""
    real = databases["InnoDB"]
    await real.reset()
    url = real.db.url
    proxy = TcpProxy(url.host, url.port)
    await proxy.start()
    via = DatabaseUrl("127.0.0.1", proxy.port, url.user, url.password, url.database)
    db = await Database.connect(via, pool_size=2)
    try:
        yield proxy, TestDb(db, real.engine)
    finally:
        await proxy.cut()
        await db.close()


async def test_health_is_not_serving_while_the_database_is_gone(
    proxied: tuple[TcpProxy, TestDb],
) -> None:
    proxy, tdb = proxied
    async with ops_stack(tdb, health_interval_s=0.2) as stack:
        await stack.ops.start()
        assert await health_of(stack.channel) == SERVING
        assert await health_of(stack.channel, "") == SERVING
        assert (await stack.http.get("/readyz")).status_code == 200

        await proxy.cut()
        await wait_until(lambda: _is(stack.channel, NOT_SERVING), 15, "NOT_SERVING")
        assert await health_of(stack.channel, "") == NOT_SERVING
        ready = await stack.http.get("/readyz")
        assert ready.status_code == 503
        assert "NOT_SERVING" in ready.json()["reason"]
        assert (await stack.http.get("/healthz")).status_code == 200  # the process is up
        metrics = samples((await stack.http.get("/metrics")).text)
        assert metrics[("lead_archive_database_up", ())] == 0

        await proxy.start()  # the database is back
        await wait_until(lambda: _is(stack.channel, SERVING), 15, "SERVING again")
        assert (await stack.http.get("/readyz")).status_code == 200


async def _is(channel: grpc.aio.Channel, status: int) -> bool:
    return await health_of(channel) == status


async def test_draining_turns_readiness_off_for_good(
    tdb: TestDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ops_stack(tdb, health_interval_s=0.2) as stack:
        await stack.ops.start()
        assert (await stack.http.get("/readyz")).status_code == 200
        watcher, checks = stack.ops.watcher, []
        check = watcher.check

        async def counted() -> bool:
            checks.append(await check())
            return checks[-1]

        monkeypatch.setattr(watcher, "check", counted)
        await stack.ops.drain()
        checks.clear()
        assert await health_of(stack.channel) == NOT_SERVING
        # The watcher keeps pinging a healthy database …
        await wait_until(lambda: checks.count(True) >= 2, 10, "two pings after the drain")
        assert await health_of(stack.channel) == NOT_SERVING  # … and changes nothing
        assert (await stack.http.get("/readyz")).status_code == 503


async def test_readyz_is_503_when_the_grpc_server_cannot_be_reached(closed_port: int) -> None:
    app = create_app(f"127.0.0.1:{closed_port}")
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://shim") as http,
    ):
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["reason"].startswith("archive service unreachable")


@pytest.fixture
def closed_port() -> int:
    return free_port()


async def test_draining_refuses_new_grpc_calls_but_not_the_in_process_shim(tdb: TestDb) -> None:
    ids = await tdb.seed(2)
    async with ops_stack(tdb) as stack:
        await stack.ops.drain()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stack.archive_call(ids[:1])
        response = await stack.post(ids[1:])  # accepted by HTTP before the signal, say
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert raised.value.details() == "server shutting down; retry the batch"
    assert response.status_code == 200, response.text
    assert await tdb.count("vicidial_list") == 1
