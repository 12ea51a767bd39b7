"""Smaller operator safety items, through the real console script and a real `serve`."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import httpx
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database
from lead_archive_server.core.tables import drop_database, recreate_database

from tests.processes import (
    LEAD_ARCHIVE,
    environment,
    free_port,
    serve_environment,
    serving,
    wait_for_http,
)
from tests.support import SERVER_URL, TestDb, lock_waiters, wait_until

ENDPOINT = "/vicidial/leads/archive"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEAD_ARCHIVE, *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_trailing_slash_is_not_redirected_and_403_lines_name_the_user(
    databases: dict[str, TestDb], tmp_path: Path
) -> None:
    tdb = databases["InnoDB"]
    http_port = free_port()
    env = environment(
        database_url=tdb.db.url.url(),
        grpc_port=str(free_port()),
        http_port=str(http_port),
        office_hours="mon-sun 00:00-24:00",  # always office hours: every valid key gets 403
    )
    key = run("keys", "create", "--user", "6677", env=env).stdout.split()[-1]
    log = tmp_path / "serve.log"
    async with (
        serving(env, log),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http,
    ):
        slashed = await http.post(ENDPOINT + "/", json={}, headers={"Host": "evil.example"})
        refused = await http.post(ENDPOINT, json={}, headers={"Authorization": f"Key={key}"})
        await wait_until(lambda: "PERMISSION_DENIED" in log.read_text(), 10, "the 403's line")
    assert slashed.status_code == 404
    assert "location" not in slashed.headers
    assert refused.status_code == 403
    lines = [line for line in log.read_text().splitlines() if "PERMISSION_DENIED" in line]
    assert lines and all("api_user=6677" in line for line in lines), lines


def test_keys_revoke_with_nothing_to_revoke_fails(tdb: TestDb) -> None:
    env = environment(database_url=tdb.db.url.url())
    nothing = run("keys", "revoke", "--user", "nobody-here", env=env)
    assert nothing.returncode == 1
    assert (
        nothing.stderr.strip()
        == "lead-archive: no live keys of user 'nobody-here': nothing revoked"
    )
    no_argument = run("keys", "revoke", env=env)
    assert no_argument.returncode == 2
    assert "say which keys" in no_argument.stderr


async def test_db_init_creates_nothing_without_vicidial_list(tmp_path: Path) -> None:

    url = DatabaseUrl.parse(SERVER_URL).with_database(f"la_test_not_vicidial_{tmp_path.name[-8:]}")
    await recreate_database(url)
    try:
        result = await asyncio.to_thread(run, "db", "init", env=environment(database_url=url.url()))
        db = await Database.connect(url, pool_size=1)
        try:
            async with db.session() as session:
                tables = await session.fetch_all("SHOW TABLES")
        finally:
            await db.close()
    finally:
        await drop_database(url)
    assert result.returncode == 1
    assert "vicidial_list not found" in result.stderr
    assert tables == []


def test_config_show_names_the_time_zone_in_effect() -> None:
    # Unset: the database server's clock (an offset, or a name when MariaDB has its time
    # zone tables), never the service host's own zone.
    shown = run("config", "show", env=environment() | {"TZ": "America/Chicago"})
    assert re.search(
        r'^timezone = ""  # in effect: (UTC[+-]\d\d:\d\d|\w+/\w+) \(the database server\'s '
        r"clock; LEAD_ARCHIVE_TIMEZONE is not set\)$",
        shown.stdout,
        re.MULTILINE,
    ), shown.stdout
    given = run("config", "show", env=environment(timezone="Europe/Paris"))
    assert 'timezone = "Europe/Paris"  # in effect: Europe/Paris (from LEAD_ARCHIVE_TIMEZONE)' in (
        given.stdout
    )
    unreachable = run(
        "config", "show", env=environment(database_url="mysql://root@127.0.0.1:1/asterisk")
    )
    assert "# in effect: the database server's clock, which cannot be read now: cannot" in (
        unreachable.stdout
    )


async def test_json_log_format_means_every_line_is_json(
    databases: dict[str, TestDb], tmp_path: Path
) -> None:
    env, _, http_port = serve_environment(databases["InnoDB"].db.url.url(), log_format="json")
    log = tmp_path / "serve.log"
    async with serving(env, log), httpx.AsyncClient() as http:
        await http.post(f"http://127.0.0.1:{http_port}{ENDPOINT}", json={})
        # The ready lines follow the first answer closely.
        await wait_until(lambda: "REST on http://" in log.read_text(), 10, "the ready lines")
    lines = log.read_text().splitlines()
    messages = [json.loads(line)["message"] for line in lines]  # fails on any other line
    assert any(message.startswith("REST on http://") for message in messages), messages


def test_help_shows_no_type_labels() -> None:
    commands = [[], ["serve"], ["grpc"], ["rest"], ["demo"], ["archive"], ["verify"]]
    commands += [["keys", name] for name in ("create", "list", "revoke")]
    commands += [["db", "init"], ["config", "show"]]
    for command in commands:
        shown = run(*command, "--help", env=environment())
        assert shown.returncode == 0, (command, shown.stderr)
        assert "<" not in shown.stdout, (command, shown.stdout)


async def test_verify_reports_leads_changed_after_archiving_as_such(tdb: TestDb) -> None:
    ids = await tdb.seed(4)
    await tdb.copy_to_archive(ids)  # as after `archive --no-delete`
    # The dialer changes three of them later (modify_date moves on, as ON UPDATE does).
    await tdb.execute(
        "UPDATE vicidial_list SET status = 'DNC', modify_date = modify_date + INTERVAL 1 MINUTE "
        f"WHERE lead_id IN ({ids[0]}, {ids[1]}, {ids[2]})"
    )
    env = environment(database_url=tdb.db.url.url())
    changed = await asyncio.to_thread(run, "verify", env=env)
    assert changed.returncode == 0, changed.stdout
    assert "3 lead(s) changed in vicidial_list after they were archived" in changed.stdout
    assert "NOT CLEAN" not in changed.stdout
    # A copy that differs with no later change in vicidial_list is still reported.
    await tdb.execute(
        "UPDATE vicidial_list_archive SET last_name = 'X', modify_date = modify_date "
        f"WHERE lead_id = {ids[3]}"
    )
    unexplained = await asyncio.to_thread(run, "verify", env=env)
    assert unexplained.returncode == 1
    assert "1 lead(s) in both tables with different data" in unexplained.stdout
    assert str(ids[3]) in unexplained.stdout
    assert "NOT CLEAN." in unexplained.stdout


async def test_the_progress_line_says_it_is_retrying_an_unreachable_server(
    databases: dict[str, TestDb],
) -> None:
    tdb = databases["InnoDB"]
    await tdb.reset()
    await tdb.seed(20, list_id=4343)
    grpc_port = free_port()
    env = environment(database_url=tdb.db.url.url(), grpc_port=str(grpc_port), office_hours="none")
    key = run("keys", "create", "--user", "6666", env=env).stdout.split()[-1]
    server = await asyncio.create_subprocess_exec(
        LEAD_ARCHIVE, "grpc", env=env, stderr=asyncio.subprocess.PIPE
    )
    holder = await Database.connect(tdb.db.url, pool_size=1)
    try:
        assert server.stderr is not None
        await asyncio.wait_for(server.stderr.readline(), 30)
        async with holder.session() as session:
            # The first batch waits for this lock, so the server dies while it is in flight.
            await session.fetch_all("SELECT GET_LOCK(CONCAT('lead_archive:', DATABASE()), 5)")
            command = (
                f"{LEAD_ARCHIVE} archive --list-id 4343 --batch-size 10 --concurrency 1 "
                f"--target 127.0.0.1:{grpc_port} --retry-for 4 --timeout 30"
            )
            # `script` gives the command a terminal, so the progress line is drawn live.
            archive = await asyncio.create_subprocess_exec(
                "script",
                "-qec",
                command,
                "/dev/null",
                env=env | {"LEAD_ARCHIVE_API_KEY": key, "COLUMNS": "200"},
                stdout=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
            )
            await wait_until(lambda: lock_waiters(tdb), 30, "the first batch to wait for the lock")
            server.kill()
            await server.wait()
            output, _ = await asyncio.wait_for(archive.communicate(), 60)
    finally:
        await holder.close()
        if server.returncode is None:
            server.kill()
    shown = output.decode(errors="replace")
    assert "retrying in" in shown, shown[-3000:]
    assert archive.returncode == 1


async def test_split_mode_shim_metrics_do_not_pretend_to_count_leads(
    databases: dict[str, TestDb], tmp_path: Path
) -> None:
    tdb = databases["InnoDB"]
    await tdb.reset()
    ids = await tdb.seed(2)
    env, grpc_port, http_port = serve_environment(tdb.db.url.url())
    key = run("keys", "create", "--user", "6666", env=env).stdout.split()[-1]
    body = {"insert_leads": True, "update_leads": True, "delete_leads": True}
    url = f"http://127.0.0.1:{http_port}"
    grpc_server = await asyncio.create_subprocess_exec(
        LEAD_ARCHIVE, "grpc", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert grpc_server.stderr is not None
        await asyncio.wait_for(grpc_server.stderr.readline(), 30)
        shim = await asyncio.create_subprocess_exec(
            LEAD_ARCHIVE,
            "rest",
            "--upstream",
            f"127.0.0.1:{grpc_port}",
            env=env,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            async with httpx.AsyncClient(base_url=url) as http:
                await wait_for_http(http_port)
                answer = await http.post(
                    ENDPOINT, json=body | {"lead_ids": ids}, headers={"Authorization": f"Key={key}"}
                )
                assert answer.status_code == 200, answer.text
                split = (await http.get("/metrics")).text
        finally:
            shim.terminate()
            await shim.wait()
    finally:
        grpc_server.terminate()
        await grpc_server.wait()
    assert (
        'lead_archive_http_requests_total{path="/vicidial/leads/archive",status="200"} 1.0' in split
    )
    assert "lead_archive_leads_total" not in split  # counted by the gRPC process, not here
    assert "lead_archive_database_up" not in split
    # In `serve` the one endpoint shows the gRPC server's counts too.
    ids = await tdb.seed(2)
    async with serving(env, tmp_path / "serve.log"), httpx.AsyncClient(base_url=url) as http:
        await http.post(
            ENDPOINT, json=body | {"lead_ids": ids}, headers={"Authorization": f"Key={key}"}
        )
        together = (await http.get("/metrics")).text
    assert 'lead_archive_leads_total{action="deleted"} 2.0' in together
