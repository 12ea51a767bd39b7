"""The failed-authentication limit and forwarded addresses, against a real `lead-archive serve`.

A limited client's valid key keeps working and a revocation still bites; a lockout is a
WARNING naming the client; forwarded addresses are believed only from named proxies, and a
malformed one is ignored, never logged raw, never a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.processes import LEAD_ARCHIVE, serve_environment, serving
from tests.support import TestDb, wait_until

ENDPOINT = "/vicidial/leads/archive"
BAD_KEY = "Key=not-a-real-key-0123456789"


@dataclass
class Served:
    env: dict[str, str]
    log: Path
    http: httpx.AsyncClient
    grpc_port: int
    tdb: TestDb

    async def cli(self, *args: str) -> str:
        """Run a `lead-archive` command against the same database; return its stdout."""
        process = await asyncio.create_subprocess_exec(
            LEAD_ARCHIVE, *args, env=self.env, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, args
        return out.decode()

    async def new_key(self, user: str = "6666") -> str:
        return (await self.cli("keys", "create", "--user", user)).strip().splitlines()[-1]

    async def key_id(self) -> int:
        rows = await self.tdb.fetch("SELECT MAX(key_id) FROM lead_archive_api_keys")
        return int(rows[0][0])

    async def check(self, authorization: str, **headers: str) -> int:
        """POST an empty batch: 401 for a bad key, 400 (lead_ids empty) for a good one."""
        body = {"insert_leads": True, "update_leads": True, "delete_leads": True, "lead_ids": []}
        response = await self.http.post(
            ENDPOINT, json=body, headers={"Authorization": authorization, **headers}
        )
        assert "Traceback" not in response.text
        return response.status_code

    def logged(self) -> str:
        return self.log.read_text(errors="replace")

    async def logs(self, text: str, times: int = 1) -> None:
        """Until the server's log holds `text` (at least `times` times)."""
        await wait_until(lambda: self.logged().count(text) >= times, 10, f"{text!r} in the log")


async def accepted(serve: Served, key: str) -> bool:
    return await serve.check(f"Key={key}") == 400  # an empty batch: the key was good


@asynccontextmanager
async def served(tdb: TestDb, tmp_path: Path, **settings: str) -> AsyncIterator[Served]:
    env, grpc_port, http_port = serve_environment(tdb.db.url.url(), **settings)
    log = tmp_path / "serve.log"
    async with (
        serving(env, log),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http,
    ):
        yield Served(env, log, http, grpc_port, tdb)


@pytest.fixture
async def innodb(databases: dict[str, TestDb]) -> TestDb:
    tdb = databases["InnoDB"]  # process wiring does not depend on the engine
    await tdb.reset()
    await tdb.execute("DELETE FROM vicidial_admin_log")
    return tdb


async def test_a_limited_client_keeps_its_valid_keys_and_revocation_bites(
    innodb: TestDb, tmp_path: Path
) -> None:
    async with served(innodb, tmp_path, auth_failure_limit="3") as serve:
        used, unused = await serve.new_key(), await serve.new_key()
        used_id = await serve.key_id() - 1
        assert await serve.check(f"Key={used}") == 400
        for _ in range(3):
            assert await serve.check(BAD_KEY) == 401
        await serve.logs("client 127.0.0.1 locked out: 3 failed authentications")
        assert "WARNING" in serve.logged()
        assert await serve.check(BAD_KEY) == 401  # still limited
        assert await serve.check(f"Key={used}") == 400  # a valid key goes on working
        assert await serve.check(f"Key={unused}") == 400  # one never used before, too
        created_later = await serve.new_key()
        # Live keys are read again at most once a second: until then the new key is refused.
        await wait_until(lambda: accepted(serve, created_later), 5, "the new key to be read")
        await serve.cli("keys", "revoke", str(used_id))
        assert await serve.check(f"Key={used}") == 401  # revoked: refused at once


async def test_a_limit_of_zero_is_off(innodb: TestDb, tmp_path: Path) -> None:
    async with served(innodb, tmp_path, auth_failure_limit="0") as serve:
        for _ in range(12):
            assert await serve.check(BAD_KEY) == 401
        await serve.logs(" UNAUTHENTICATED ", 12)  # a lockout would be logged before these
        assert "locked out" not in serve.logged()


async def test_forwarded_addresses_from_unnamed_proxies_are_ignored(
    innodb: TestDb, tmp_path: Path
) -> None:
    ids = await innodb.seed(2)
    async with served(innodb, tmp_path, auth_failure_limit="2") as serve:
        key = await serve.new_key()
        for _ in range(2):  # trying to lock out someone else
            assert await serve.check(BAD_KEY, **{"X-Forwarded-For": "198.51.100.1"}) == 401
        body = {"insert_leads": True, "update_leads": True, "delete_leads": True}
        response = await serve.http.post(
            ENDPOINT,
            json=body | {"lead_ids": ids[:1]},
            headers={"Authorization": f"Key={key}", "X-Forwarded-For": "198.51.100.2"},
        )
        assert response.status_code == 200, response.text
        async with grpc.aio.insecure_channel(f"127.0.0.1:{serve.grpc_port}") as channel:
            await pb_grpc.LeadArchiveServiceStub(channel).ArchiveLeads(
                pb.ArchiveLeadsRequest(
                    insert_leads=True, update_leads=True, delete_leads=True, lead_ids=ids[1:]
                ),
                metadata=[("authorization", f"Key={key}"), ("x-forwarded-for", "198.51.100.3")],
            )
        await serve.logs("client 127.0.0.1 locked out")
    rows = await innodb.fetch(
        "SELECT ip_address FROM vicidial_admin_log WHERE event_section = 'LEADS' "
        "ORDER BY admin_log_id"
    )
    assert [row[0] for row in rows] == ["127.0.0.1", "127.0.0.1"]
    assert "198.51.100" not in serve.logged()


@pytest.mark.parametrize(
    "forwarded", ["198.51.100.9\tx", "evil=1 level=ERROR", "1.2.3.4, unknown", "::ffff:zz"]
)
async def test_malformed_forwarded_values_are_ignored_and_never_logged_raw(
    innodb: TestDb, tmp_path: Path, forwarded: str
) -> None:
    async with served(innodb, tmp_path, trusted_proxies="127.0.0.1") as serve:
        key = await serve.new_key()
        assert await serve.check(BAD_KEY, **{"X-Forwarded-For": forwarded}) == 401
        assert await serve.check(f"Key={key}", **{"X-Forwarded-For": forwarded}) == 400
        await serve.logs("client_ip=127.0.0.1", 2)  # both calls' lines
    logged = serve.logged()
    assert "Traceback" not in logged
    assert forwarded not in logged


async def test_a_trusted_proxy_forwards_the_client_and_its_request_id_is_logged_beside_ours(
    innodb: TestDb, tmp_path: Path
) -> None:
    ids = await innodb.seed(1)
    async with served(innodb, tmp_path, trusted_proxies="127.0.0.1") as serve:
        key = await serve.new_key()
        body = {"insert_leads": True, "update_leads": True, "delete_leads": True}
        response = await serve.http.post(
            ENDPOINT,
            json=body | {"lead_ids": ids},
            headers={
                "Authorization": f"Key={key}",
                "X-Forwarded-For": "203.0.113.50, 127.0.0.1",
                "X-Request-Id": "client-chosen-id",
            },
        )
        assert response.status_code == 200, response.text
        ours = response.headers["x-request-id"]
        await serve.logs(f"request_id={ours} client_request_id=client-chosen-id")
    assert ours != "client-chosen-id"
    rows = await innodb.fetch(
        "SELECT ip_address, record_id FROM vicidial_admin_log WHERE event_section = 'LEADS'"
    )
    assert [tuple(row) for row in rows] == [("203.0.113.50", ours)]
    assert f"request_id={ours} client_request_id=client-chosen-id" in serve.logged()


async def test_archive_reads_its_key_from_a_file(innodb: TestDb, tmp_path: Path) -> None:
    ids = await innodb.seed(3, list_id=4242)
    async with served(innodb, tmp_path) as serve:
        key_file = tmp_path / "api-key"
        key_file.write_text(await serve.new_key() + "\n")
        await serve.cli(
            "archive",
            "--list-id",
            "4242",
            "--target",
            f"127.0.0.1:{serve.grpc_port}",
            "--api-key-file",
            str(key_file),
        )
    assert await innodb.count("vicidial_list") == 0
    assert len(ids) == 3
