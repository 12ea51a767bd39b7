"""KILL the service's own database connection at each point of a batch, and cut it.

The service runs unchanged; its pool connects through the wire proxy (tests/faults/wire.py),
which catches the batch's round trips as they go out: `KILL <thread id>` from another
connection before the first round trip (lock, begin, membership), before the writes' round
trip (after the lock's round trip and the column check), inside the writes' round trip
between two of its statements (the next one held before its first row by a trigger, so the
kill cannot race it: after the insert, after the update), and before the COMMIT's round trip
(after the delete). The caller must get a clear 500 over REST (UNAVAILABLE over gRPC), the
invariant must hold for every lead, and the very next request on the same pool must work:
the dead connection is never lent again. The proxy also cuts the connection (RST) after the
server has answered part of the writes, and after it has committed but before the service
hears of it.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest

from tests.faults.support_faults import UNAVAILABLE_BODY, assert_killed, prepare, quiet
from tests.faults.support_service import Service
from tests.faults.wire import (
    BEFORE_DELETE,
    BEFORE_UPDATE,
    COMMIT,
    LOCK,
    WAIT_S,
    WRITES,
    Action,
    Moment,
    kill_before,
    kill_held,
)
from tests.invariant import Ledger, assert_all_archived, assert_no_lead_lost
from tests.support import ARCHIVE, wait_until
from tests.support_shim import full_request

STEPS = ("start", "checked", "insert", "update", "delete")
# Where each step's kill lands: the query the proxy catches, and what it does there. These
# leads have no hopper row, so the batch sends no hopper statement: the point after the
# update is before the delete.
KILLS: dict[str, tuple[str, Action]] = {
    "start": (LOCK, kill_before),
    "checked": (WRITES, kill_before),
    "insert": (WRITES, kill_held(BEFORE_UPDATE)),
    "update": (WRITES, kill_held(BEFORE_DELETE)),
    "delete": (COMMIT, kill_before),
}
# How many of the writes' statements the server answered before the kill (insert, update,
# delete; None: the writes were never sent to a live connection).
ANSWERED = {"start": None, "checked": 0, "insert": 1, "update": 2, "delete": 3}


@pytest.mark.parametrize("step", STEPS)
async def test_killed_connection_between_steps_loses_nothing(
    service: Service, holds: None, step: str
) -> None:
    tdb = service.tdb
    ids, ledger = await prepare(service)
    rule = service.proxy.on_query(*KILLS[step])

    response = await service.post(full_request(ids))

    assert_killed(service, rule, response, ANSWERED[step])
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
    service: Service, holds: None, step: str
) -> None:
    ids, ledger = await prepare(service)
    rule = service.proxy.on_query(*KILLS[step])
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await service.grpc_archive(ids)
    assert rule.fired
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert raised.value.details() == "database unavailable; retry the batch"
    where = await assert_no_lead_lost(service.tdb.db, ledger)
    if where.in_list:
        assert (await service.grpc_archive(sorted(where.in_list))).delete_count == len(
            where.in_list
        )
    await assert_all_archived(service.tdb.db, ledger)


async def cut_after_the_insert_answered(moment: Moment) -> None:
    """Send the writes on, keep the server's answers from the service, and cut (RST) the
    connection once the insert's answer is in: the server has the whole round trip."""
    moment.conversation.hold_replies()
    await moment.forward()
    await moment.round_trip.answered(1)
    moment.conversation.cut()


async def test_connection_cut_in_the_writes_round_trip_loses_nothing(service: Service) -> None:
    """The service loses its connection in the middle of the writes' answers. The server
    goes on with the round trip it holds for as long as it can: which of the statements
    after the insert still ran is the server's business (it may stop when it cannot send an
    answer), so this checks what is true whichever of them did."""
    tdb = service.tdb
    ids, ledger = await prepare(service)
    rule = service.proxy.on_query(WRITES, cut_after_the_insert_answered)

    response = await service.post(full_request(ids))

    assert rule.fired
    assert (response.status_code, response.json()) == (500, UNAVAILABLE_BODY)
    await quiet(tdb)
    where = await assert_no_lead_lost(tdb.db, ledger)
    if tdb.engine == "InnoDB":  # no COMMIT was sent: rolled back when the server noticed
        assert where.in_list == set(ids) and where.in_both == set(ids[:10])
    else:  # MyISAM: the insert ran (its answer came); update and delete ran or not
        assert where.in_both | where.archived_only == set(ids)
    await assert_recovers(service, ledger, sorted(where.in_list))


async def lose_the_commit_answer(moment: Moment) -> None:
    """Send the COMMIT on, keep its answer from the service, then cut the connection."""
    moment.conversation.hold_replies()
    await moment.forward()
    await asyncio.wait_for(moment.round_trip.complete.wait(), WAIT_S)
    moment.conversation.cut()


async def test_a_commit_whose_answer_is_lost_stands(service: Service) -> None:
    """The server committed, the service never heard: a 500 that says retry, every lead
    archived, and the retry is told the leads are gone from vicidial_list."""
    tdb = service.tdb
    ids, ledger = await prepare(service)
    rule = service.proxy.on_query(COMMIT, lose_the_commit_answer)

    response = await service.post(full_request(ids))

    assert rule.fired
    kinds = [r.kind for r in rule.caught[0].round_trip.results]
    assert "rows" in kinds and "error" not in kinds  # committed, and the lock released
    assert (response.status_code, response.json()) == (500, UNAVAILABLE_BODY)
    await assert_all_archived(tdb.db, ledger)
    retried = await service.post(full_request(ids))
    assert (retried.status_code, retried.json()["message"]) == (400, "lead_ids does not exist")
    assert retried.json()["lead_ids"] == ids


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
    killed = [c for c in service.proxy.conversations if c.thread_id in victims]
    assert killed, "no connection of the service's pool was idle"
    # The server has closed them, and the proxy their client ends: the pool is told.
    await wait_until(lambda: all(c.closed.is_set() for c in killed), 10, "the killed to close")
    response = await service.post(full_request(ids))
    assert response.status_code == 200, response.text
    await assert_all_archived(tdb.db, ledger)
    assert await tdb.count(ARCHIVE) == len(ids)
