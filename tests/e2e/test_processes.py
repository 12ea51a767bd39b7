"""The real console script in its own process: demo, serve, and grpc + rest apart."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import httpx
import pytest
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.tables import drop_database

from tests.processes import (
    LEAD_ARCHIVE,
    environment,
    free_port,
    read_until,
    running,
    serve_environment,
    wait_for_http,
)
from tests.support import LEADS, SERVER_URL, TestDb


async def test_demo_prints_a_curl_that_works_as_pasted(databases: dict[str, TestDb]) -> None:
    database = f"la_test_demo_{os.getpid()}"
    env = environment(
        database_url=DatabaseUrl.parse(SERVER_URL).with_database("unused").url(),
        grpc_port=str(free_port()),
        http_port=str(free_port()),
    )
    try:
        printed, output = await run_demo(database, env)
    finally:
        await drop_database(DatabaseUrl.parse(SERVER_URL).with_database(database))
    assert "500 dummy leads" in printed
    assert json.loads(output) == {
        "message": "lead_ids batch was successfully processed",
        "select_count": 2,
        "insert_count": 2,
        "update_count": 0,
        "delete_count": 2,
    }


async def run_demo(database: str, env: dict[str, str]) -> tuple[str, bytes]:
    """Start the demo, paste its curl into bash, return what it printed and curl's output."""
    async with running("demo", "--database", database, env=env) as demo:
        printed = await read_until(demo.stdout, r"\"lead_ids\": \[\d+, \d+\]\}'")
        curl = printed[printed.index("curl -k") :]
        pasted = await asyncio.create_subprocess_exec(
            "bash", "-c", curl + " --silent", stdout=asyncio.subprocess.PIPE
        )
        output, _ = await pasted.communicate()
    return printed, output


@pytest.mark.parametrize("layout", ["serve", "apart"])
async def test_serve_and_split_processes_answer_and_stop_on_sigterm(
    databases: dict[str, TestDb], layout: str
) -> None:
    tdb = databases["InnoDB"]  # process wiring does not depend on the engine
    await tdb.reset()
    ids = await tdb.seed(3)
    env, grpc_port, http_port = serve_environment(tdb.db.url.url())
    created = await asyncio.create_subprocess_exec(
        LEAD_ARCHIVE, "keys", "create", "--user", "6666", env=env, stdout=asyncio.subprocess.PIPE
    )
    key = (await created.communicate())[0].decode().strip().splitlines()[-1]
    async with running("grpc" if layout == "apart" else "serve", env=env) as first:
        if layout == "apart":
            await read_until(first.stderr, "gRPC on")
            async with running("rest", "--upstream", f"127.0.0.1:{grpc_port}", env=env):
                await wait_for_http(http_port)
                response = await post(http_port, key, ids)
        else:
            await wait_for_http(http_port)
            response = await post(http_port, key, ids)
    assert response.status_code == 200, response.text
    assert response.json()["delete_count"] == 3
    assert await tdb.count(LEADS) == 0


async def post(port: int, key: str, ids: list[int]) -> httpx.Response:
    body = {"insert_leads": True, "update_leads": True, "delete_leads": True, "lead_ids": ids}
    async with httpx.AsyncClient() as client:
        return await client.post(
            f"http://127.0.0.1:{port}/vicidial/leads/archive",
            json=body,
            headers={"Authorization": f"Key={key}"},
        )


def test_bad_setting_stops_start_up_with_one_line() -> None:
    result = subprocess.run(
        [LEAD_ARCHIVE, "serve"],
        env=environment(office_hours="mon-fri 8-6"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("lead-archive: LEAD_ARCHIVE_OFFICE_HOURS")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_stops_start_up_with_one_line() -> None:
    result = subprocess.run(
        [LEAD_ARCHIVE, "serve"],
        env=environment(database_url="mysql://root@127.0.0.1:1/asterisk", office_hours="none"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot connect to mysql://root@127.0.0.1:1/asterisk" in result.stderr
    assert "Traceback" not in result.stderr
