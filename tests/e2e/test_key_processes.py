"""Keys with least privilege as operators meet them, the console script in its own process:
the bulk commands stop before the first batch for a key without their scope, `serve` warns of
keys that expire soon and writes the keys' last use when it stops, and `keys list` shows it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from lead_archive_client.vocabulary import ARCHIVE_PATH
from lead_archive_server.access.keys import Expiry, create_key

from tests.processes import environment, finished, free_port, serving
from tests.support import TestDb
from tests.support_stack import running_stack


@pytest.mark.parametrize(("command", "scope"), [("archive", "restore"), ("restore", "archive")])
async def test_a_bulk_command_stops_before_the_first_batch_without_its_scope(
    tdb: TestDb, command: str, scope: str
) -> None:
    ids = await tdb.seed(3)
    if command == "restore":
        await tdb.copy_to_archive(ids)
        await tdb.execute("DELETE FROM vicidial_list")
    async with running_stack(tdb, rest=False) as stack:
        key = await create_key(tdb.db, "nightly", scopes=(scope,))
        env = environment(database_url=tdb.db.url.url(), target=stack.grpc_target, api_key=key)
        before = await tdb.snapshot()
        code, out, err = await finished(command, "--list-id", "1001", env=env)
        assert await tdb.snapshot() == before
    assert code == 1, out + err
    [line] = [text for text in err.splitlines() if text.startswith("lead-archive:")]
    assert f"the key may not {command}: it lacks the {command} scope" in line
    assert "Nothing was done" in line and "Traceback" not in out + err


async def test_serve_warns_of_keys_expiring_soon_and_writes_last_use_when_it_stops(
    databases: dict[str, TestDb], tmp_path: Path
) -> None:
    tdb = databases["InnoDB"]  # process wiring does not depend on the engine
    await tdb.reset()
    soon = await create_key(tdb.db, "soon", expires=Expiry(3 * 86_400))
    await create_key(tdb.db, "later", expires=Expiry(30 * 86_400))
    http_port = free_port()
    env = environment(
        database_url=tdb.db.url.url(),
        grpc_port=str(free_port()),
        http_port=str(http_port),
        office_hours="none",
    )
    log = tmp_path / "serve.log"
    flags = {"insert_leads": True, "update_leads": True, "delete_leads": True}
    headers = {"Authorization": f"Key={soon}"}
    async with (
        serving(env, log),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http,
    ):
        for _ in range(3):
            response = await http.post(ARCHIVE_PATH, json=flags | {"lead_ids": []}, headers=headers)
            assert response.status_code == 400, response.text  # the key passed
        rows = await tdb.fetch("SELECT last_used_at FROM lead_archive_api_keys")
        assert rows == [(None,), (None,)]  # kept in memory: no write per request
    logged = log.read_text()
    [warning] = [line for line in logged.splitlines() if "expires at" in line]
    assert "WARNING" in warning and "API user soon" in warning and "keys rotate" in warning
    code, listed, _ = await finished("keys", "list", env=env)  # written when serve stopped
    assert code == 0
    [row] = [line for line in listed.splitlines() if " soon " in line and "│" in line]
    assert "127.0.0.1" in row
    assert "warning: key" in listed and "API user soon" in listed
