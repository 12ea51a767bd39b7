"""What the fault tests share besides their fixtures (tests/faults/conftest.py): the shim in
front of a child server, waiting out a dead process's statements, a batch held half-way, and
what a killed connection must look like to the caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from httpx import Response
from lead_archive_rest_shim.main import create_app

from tests.faults.support_service import Service
from tests.faults.wire import WAIT_S, WRITES, Hold, Moment, Result, Rule, WireProxy
from tests.invariant import Ledger
from tests.support import LEADS, TestDb, wait_until

SHIM_DOWN = {"message": "archive service unavailable", "lead_errors": 0, "lead_ids": []}
UNAVAILABLE_BODY = {
    "message": "database unavailable; retry the batch",
    "lead_errors": 0,
    "lead_ids": [],
}


@asynccontextmanager
async def shim(port: int) -> AsyncIterator[httpx.AsyncClient]:
    """The REST shim in this process, in front of the child."""
    app = create_app(f"127.0.0.1:{port}")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://shim", timeout=120
        ) as http,
    ):
        yield http


async def others_running(tdb: TestDb, pattern: str = "%") -> list[int]:
    """Connections to the test database, other than the asking one, in the middle of a query."""
    rows = await tdb.fetch(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
        "AND COMMAND = 'Query' AND ID <> CONNECTION_ID() AND INFO LIKE %s",
        [pattern],
    )
    return [int(row[0]) for row in rows]


async def quiet(tdb: TestDb) -> None:
    """Wait until statements the dead process had sent have ended (the server runs them out)."""
    await wait_until(lambda: _none_running(tdb), 30, "the dead process's statements to end")


async def _none_running(tdb: TestDb) -> bool:
    return not await others_running(tdb)


@asynccontextmanager
async def hold_half_way(wire: WireProxy, hold: Hold) -> AsyncIterator[asyncio.Event]:
    """Hold the next batch's writes at `hold` (the statements before it have run) until the
    block ends; the event is set once the statement waits there."""
    half_way, let_go, done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def action(moment: Moment) -> None:
        try:
            async with moment.hold(hold) as held:
                await moment.forward()
                await held.engaged()
                half_way.set()
                await let_go.wait()
        finally:
            done.set()

    rule = wire.on_query(WRITES, action)
    try:
        yield half_way
    finally:
        let_go.set()
        if rule.fired:
            await asyncio.wait_for(done.wait(), WAIT_S)


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


def answered(service: Service) -> list[Result] | None:
    """The statements of the batch's writes the server answered (None: not sent at all);
    each but the last says another follows in the same round trip."""
    writes = service.proxy.round_trips(WRITES)
    if not writes:
        return None
    [round_trip] = writes
    done = [result for result in round_trip.results if result.kind == "ok"]
    assert all(result.more for result in done[:-1]), round_trip.results
    return done


def assert_killed(service: Service, rule: Rule, response: Response, answers: int | None) -> None:
    """The kill's query went out and the kill landed: the caller got the clear 500, and
    `answers` statements of the writes had answered (None: never sent to a live connection)."""
    assert rule.fired, "the batch never sent the query the kill waits for"
    assert (response.status_code, response.json()) == (500, UNAVAILABLE_BODY)
    done = answered(service)
    assert (done if done is None else len(done)) == answers, done
