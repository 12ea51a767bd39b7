"""A batch whose caller gives up (deadline) still runs to its end, is logged with its real
counts and audited, on a real `lead-archive serve`."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import grpc
import pytest
from lead_archive_server.core.db import Database
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.processes import LEAD_ARCHIVE, serve_environment, serving
from tests.support import ARCHIVE, LEADS, TestDb, wait_until


@pytest.mark.parametrize("method", ["ArchiveLeads", "RestoreLeads"])
@pytest.mark.parametrize("engine", ["MyISAM", "InnoDB"])
async def test_a_batch_whose_caller_left_finishes_and_is_audited(
    databases: dict[str, TestDb], tmp_path: Path, engine: str, method: str
) -> None:
    tdb = databases[engine]
    await tdb.reset()
    await tdb.execute("DELETE FROM vicidial_admin_log")
    ids = await tdb.seed(3)
    restoring = method == "RestoreLeads"
    if restoring:  # the leads are archived, and only archived
        await tdb.copy_to_archive(ids)
        await tdb.execute("DELETE FROM vicidial_list")
    source, target = (ARCHIVE, LEADS) if restoring else (LEADS, ARCHIVE)
    env, grpc_port, _ = serve_environment(tdb.db.url.url())
    created = await asyncio.create_subprocess_exec(
        *(LEAD_ARCHIVE, "keys", "create", "--user", "6666", "--scope", "archive"),
        *("--scope", "restore"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    key = (await created.communicate())[0].decode().split()[-1]
    log = tmp_path / "serve.log"
    how: dict[str, Any] = {"metadata": [("authorization", f"Key={key}")], "timeout": 1.0}
    holder = await Database.connect(tdb.db.url, pool_size=1)
    try:
        async with serving(env, log):
            async with holder.session() as session:
                # Hold the batch lock, so the batch starts but cannot end before the deadline.
                await session.fetch_all("SELECT GET_LOCK(CONCAT('lead_archive:', DATABASE()), 5)")
                async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                    stub = pb_grpc.LeadArchiveServiceStub(channel)
                    call = (
                        stub.RestoreLeads(pb.RestoreLeadsRequest(lead_ids=ids), **how)
                        if restoring
                        else stub.ArchiveLeads(
                            pb.ArchiveLeadsRequest(
                                insert_leads=True,
                                update_leads=True,
                                delete_leads=True,
                                lead_ids=ids,
                            ),
                            **how,
                        )
                    )
                    with pytest.raises(grpc.aio.AioRpcError) as raised:
                        await call
                    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                assert await tdb.count(source) == 3  # not yet: the lock is still held
                await session.fetch_all("SELECT RELEASE_LOCK(CONCAT('lead_archive:', DATABASE()))")

            async def finished_and_audited() -> bool:
                audited = await tdb.fetch("SELECT COUNT(*) FROM vicidial_admin_log")
                return await tdb.count(source) == 0 and audited[0][0] > 0

            # The batch runs to its end once the lock is free; its audit row follows.
            await wait_until(finished_and_audited, 10, "the batch to end and be audited")
    finally:
        await holder.close()
    assert (await tdb.count(source), await tdb.count(target)) == (0, 3)
    rows = await tdb.fetch(
        "SELECT event_notes FROM vicidial_admin_log WHERE event_section = 'LEADS'"
    )
    assert len(rows) == 1
    assert "insert_count: 3|" in rows[0][0] and "delete_count: 3" in rows[0][0]
    logged = log.read_text()
    [line] = [text for text in logged.splitlines() if "server.requests" in text]
    assert re.search(rf"{method} OK .*delete_count=3", line), line
    assert "caller_left=true" in line.lower()
