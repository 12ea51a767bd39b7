"""KILL the service's own database connection between the statements of a batch.

The kill comes from another connection of the same pool (`KILL <thread id>`), through the
archive's test seam, which sits between the production statements without changing them:
before the first, after the lock's round trip (existence and definitions), after insert,
after update, after delete (before COMMIT). The caller must get a clear 500 over REST
(UNAVAILABLE over gRPC), the invariant must hold for every lead, and the very next request on
the same pool must work: the dead connection is never lent again.
"""

from __future__ import annotations

import asyncio
from functools import partial

import grpc
import pytest
from lead_archive_server.core.archive import archive_leads
from lead_archive_server.core.db import Session
from lead_archive_server.service import servicer

from tests.e2e.conftest import full_request
from tests.faults.conftest import Service
from tests.invariant import Ledger, assert_all_archived, assert_no_lead_lost
from tests.support import ARCHIVE, LEADS

STEPS = ("start", "checked", "insert", "update", "delete")
UNAVAILABLE_BODY = {
    "message": "database unavailable; retry the batch",
    "lead_errors": 0,
    "lead_ids": [],
}

# Which steps' writes survive the kill on MyISAM (no rollback): everything done before it.
MYISAM_DONE = {
    "start": set(),
    "checked": set(),
    "insert": {"insert"},
    "update": {"insert", "update"},
}


async def prepare(service: Service) -> tuple[list[int], Ledger]:
    """40 leads: 10 archived already, 5 of those changed since (stale archive copies)."""
    tdb = service.tdb
    ids = await tdb.seed(40)
    await tdb.copy_to_archive(ids[:10])
    marks = ", ".join(["%s"] * 5)
    await tdb.execute(
        f"UPDATE {LEADS} SET status = 'SALE', modify_date = modify_date WHERE lead_id IN ({marks})",
        ids[:5],
    )
    return ids, await Ledger.snapshot(tdb.db)


def kill_at(service: Service, step: str, killed: list[int]):
    """A step hook that KILLs the batch's own connection once, at `step`."""

    async def hook(name: str, session: Session) -> None:
        if name == step and not killed:
            killed.append(session.thread_id)
            await service.tdb.execute("KILL %s", [session.thread_id])

    return hook


@pytest.mark.parametrize("step", STEPS)
async def test_killed_connection_between_steps_loses_nothing(
    service: Service, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    tdb = service.tdb
    ids, ledger = await prepare(service)
    killed: list[int] = []
    hooked = partial(archive_leads, after_step=kill_at(service, step, killed))
    monkeypatch.setattr(servicer, "archive_leads", hooked)

    response = await service.post(full_request(ids))

    assert killed, "the hook never ran"
    assert (response.status_code, response.json()) == (500, UNAVAILABLE_BODY)
    where = await assert_no_lead_lost(tdb.db, ledger)
    if tdb.engine == "InnoDB" or step in ("start", "checked"):
        # Rolled back, or killed before any write: exactly as before.
        assert where.in_list == set(ids) and where.in_both == set(ids[:10])
    elif step == "delete":
        assert where.archived_only == set(ids)  # MyISAM: the delete had run
    else:
        assert where.in_both == set(ids)  # MyISAM: copies made, nothing deleted
    await assert_recovers(service, ledger, sorted(where.in_list))


async def assert_recovers(service: Service, ledger: Ledger, remaining: list[int]) -> None:
    """The pool lends only live connections: concurrent requests all work, then rerun."""
    await asyncio.gather(*(assert_access_works(service) for _ in range(8)))
    if remaining:
        response = await service.post(full_request(remaining))
        assert response.status_code == 200, response.text
        assert response.json()["delete_count"] == len(remaining)
    await assert_all_archived(service.tdb.db, ledger)


async def assert_access_works(service: Service) -> None:
    """A request that needs the database (key lookup and existence) but changes nothing."""
    response = await service.post(full_request([2**40]))
    assert response.json()["message"] == "lead_ids does not exist", response.text


@pytest.mark.parametrize("step", ["insert", "delete"])
async def test_killed_connection_is_unavailable_over_grpc(
    service: Service, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    ids, ledger = await prepare(service)
    killed: list[int] = []
    monkeypatch.setattr(
        servicer, "archive_leads", partial(archive_leads, after_step=kill_at(service, step, killed))
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await service.grpc_archive(ids)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert raised.value.details() == "database unavailable; retry the batch"
    where = await assert_no_lead_lost(service.tdb.db, ledger)
    monkeypatch.undo()
    if where.in_list:
        assert (await service.grpc_archive(sorted(where.in_list))).delete_count == len(
            where.in_list
        )
    await assert_all_archived(service.tdb.db, ledger)


async def test_idle_pooled_connections_killed_are_not_lent_again(service: Service) -> None:
    """Every idle connection of the pool is killed; the next requests still work."""
    tdb = service.tdb
    ids, ledger = await prepare(service)
    await asyncio.gather(*(assert_access_works(service) for _ in range(6)))  # fill the pool
    async with tdb.db.session() as killer:
        rows = await killer.fetch_all(
            "SELECT ID FROM information_schema.PROCESSLIST "
            "WHERE DB = DATABASE() AND COMMAND = 'Sleep' AND ID <> CONNECTION_ID()"
        )
        victims = [int(row[0]) for row in rows]
        for victim in victims:
            await killer.execute("KILL %s", [victim])
    assert victims
    await asyncio.sleep(0.2)  # let the event loop see the closed sockets
    response = await service.post(full_request(ids))
    assert response.status_code == 200, response.text
    await assert_all_archived(tdb.db, ledger)
    assert await tdb.count(ARCHIVE) == len(ids)
