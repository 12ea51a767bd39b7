"""The console script run like infrastructure: TLS, SIGTERM mid-batch, JSON logs, metrics."""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
from pathlib import Path

import httpx
import pytest

from tests.processes import (
    LEAD_ARCHIVE,
    environment,
    free_port,
    read_until,
    running,
)
from tests.support import LEADS, TestDb, wait_until
from tests.support_ops import archive_body, samples
from tests.support_tls import TestCerts, make_certs, make_self_signed

ENDPOINT = "/vicidial/leads/archive"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TestCerts:
    return make_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def innodb(databases: dict[str, TestDb]) -> TestDb:
    tdb = databases["InnoDB"]  # process wiring does not depend on the engine
    await tdb.reset()
    await tdb.execute("DELETE FROM vicidial_admin_log")
    return tdb


async def create_key(env: dict[str, str]) -> str:
    created = await asyncio.create_subprocess_exec(
        LEAD_ARCHIVE, "keys", "create", "--user", "6666", env=env, stdout=asyncio.subprocess.PIPE
    )
    return (await created.communicate())[0].decode().strip().splitlines()[-1]


def base_env(tdb: TestDb, **values: str) -> dict[str, str]:
    return environment(
        database_url=tdb.db.url.url(),
        grpc_port=str(free_port()),
        http_port=str(free_port()),
        office_hours="none",
        **values,
    )


async def wait_until_up(url: str, verify: ssl.SSLContext | bool = True) -> None:
    async with httpx.AsyncClient(verify=verify) as client:

        async def up() -> bool:
            try:
                return (await client.get(url)).status_code == 200
            except httpx.TransportError:
                return False

        await wait_until(up, 30, f"200 from {url}", every=0.1)


async def wait_until_refused(url: str) -> None:
    """Until the port takes no new connections (it may answer for a moment first)."""
    async with httpx.AsyncClient() as client:

        async def refused() -> bool:
            try:
                await client.get(url, headers={"Connection": "close"})
            except httpx.TransportError:
                return True
            return False

        await wait_until(refused, 30, f"{url} to refuse connections", every=0.05)


async def archive(base: str, key: str, ids: list[int], verify=True, **kw) -> httpx.Response:
    async with httpx.AsyncClient(verify=verify, timeout=60) as client:
        return await client.post(
            base + ENDPOINT, json=archive_body(ids), headers={"Authorization": f"Key={key}"}, **kw
        )


async def test_serve_with_a_self_signed_certificate_on_both_ports(
    innodb: TestDb, tmp_path: Path
) -> None:
    """The API document's `curl -k https://…`; the shim reaches gRPC over TLS by itself."""
    cert, key_file = make_self_signed(tmp_path)
    ids = await innodb.seed(2)
    env = base_env(innodb, tls_cert=str(cert), tls_key=str(key_file))
    key = await create_key(env)
    trust = ssl.create_default_context(cafile=str(cert))
    base = f"https://127.0.0.1:{env['LEAD_ARCHIVE_HTTP_PORT']}"
    async with running("serve", env=env):
        await wait_until_up(base + "/readyz", verify=trust)
        response = await archive(base, key, ids, verify=trust)
        with pytest.raises(httpx.TransportError):  # plain HTTP on the TLS port
            await archive(base.replace("https", "http"), key, ids)
    assert response.status_code == 200, response.text
    assert response.json()["delete_count"] == 2


async def test_grpc_and_rest_apart_with_a_ca_and_upstream_tls(
    innodb: TestDb, certs: TestCerts
) -> None:
    ids = await innodb.seed(1)
    env = base_env(
        innodb,
        grpc_tls_cert=str(certs.cert),
        grpc_tls_key=str(certs.key),
        upstream_ca=str(certs.ca),
    )
    key = await create_key(env)
    grpc_port, http_port = env["LEAD_ARCHIVE_GRPC_PORT"], env["LEAD_ARCHIVE_HTTP_PORT"]
    base = f"http://127.0.0.1:{http_port}"
    upstream = ("--upstream", f"localhost:{grpc_port}", "--upstream-tls")
    async with running("grpc", env=env) as grpc_process:
        await read_until(grpc_process.stderr, "gRPC on")
        async with running("rest", *upstream, env=env):
            await wait_until_up(base + "/readyz")
            response = await archive(base, key, ids)
    assert response.status_code == 200, response.text
    assert await innodb.count(LEADS) == 0


async def wait_for_lock_wait(tdb: TestDb) -> None:
    """Until a connection of the service waits for the table lock the test holds."""
    query = (
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        "WHERE DB = %s AND ID <> CONNECTION_ID() AND STATE LIKE %s"
    )

    async def waiting() -> bool:
        return bool((await tdb.fetch(query, [tdb.db.url.database, "%lock%"]))[0][0])

    await wait_until(waiting, 30, "a connection of the service to wait for the lock")


async def test_sigterm_during_a_batch_finishes_it_then_exits_0(innodb: TestDb) -> None:
    ids = await innodb.seed(3)
    env = base_env(innodb, log_format="json")
    key = await create_key(env)
    base = f"http://127.0.0.1:{env['LEAD_ARCHIVE_HTTP_PORT']}"
    async with innodb.db.session() as locker, running("serve", env=env) as serve:
        await wait_until_up(base + "/readyz")
        await locker.execute(f"LOCK TABLES {LEADS} WRITE")
        try:
            batch = asyncio.create_task(archive(base, key, ids))
            await wait_for_lock_wait(innodb)
            serve.send_signal(signal.SIGTERM)
            await read_until(serve.stderr, "shutting down")
            await wait_until_refused(base + "/healthz")  # no new work is taken
        finally:
            await locker.execute("UNLOCK TABLES")
        response = await asyncio.wait_for(batch, 30)
        assert await asyncio.wait_for(serve.wait(), 30) == 0
        rest = (await serve.stderr.read()).decode()
    assert response.status_code == 200, response.text
    assert response.json()["delete_count"] == 3
    assert await innodb.count(LEADS) == 0
    lines = [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
    served = [line for line in lines if line.get("method") == "ArchiveLeads"]
    assert [line["outcome"] for line in served] == ["OK"]
    assert served[0]["request_id"] == response.headers["x-request-id"]


async def test_grpc_alone_exports_metrics_on_its_own_port(innodb: TestDb) -> None:
    metrics_port = free_port()
    env = base_env(innodb, metrics_port=str(metrics_port))
    async with running("grpc", env=env) as grpc_process:
        await read_until(grpc_process.stderr, "gRPC on")
        await wait_until_up(f"http://127.0.0.1:{metrics_port}/metrics")
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    found = samples(text)
    database = innodb.db.url.database
    assert found[("lead_archive_database_up", ())] == 1
    assert found[("lead_archive_db_pool_max_connections", (("database", database),))] == 8
