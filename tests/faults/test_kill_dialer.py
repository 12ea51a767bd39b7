"""KILL the batch's connection at every step of a delete phase that has the dialer to mind.

Like test_kill_connection (through the wire proxy, the statements of the writes' round trip
held by triggers so the kill lands between two of them), with READY hopper rows for most
leads and a few leads in use: the kill comes after each step, the new ones included (after
the update, before the READY rows' delete; after that delete, before the guarded delete;
after the guarded delete, before COMMIT). After every kill the invariant holds (CONTRACT 3),
no hopper row names a lead that left vicidial_list, the leads in use are still there; a rerun
archives the rest and takes their READY rows with them. The hopper is on MEMORY (as Vicidial
installs it: its deletes are never rolled back) or on vicidial_list's engine.
"""

from __future__ import annotations

import pytest

from tests.faults.support_faults import assert_killed, prepare
from tests.faults.support_service import Service
from tests.faults.wire import (
    BEFORE_DELETE,
    BEFORE_HOPPER,
    BEFORE_UPDATE,
    COMMIT,
    LOCK,
    WRITES,
    Action,
    kill_before,
    kill_held,
)
from tests.invariant import assert_no_lead_lost
from tests.support import DIALER_ENGINES, LEADS
from tests.support_dialer import add_ready_rows, hopper_rows, orphan_hopper_rows, put_in_use
from tests.support_shim import full_request

STEPS = ("start", "checked", "insert", "update", "hopper", "delete")
# Where each step's kill lands (see test_kill_connection): here the READY rows make the
# batch send its hopper statement between the update and the delete.
KILLS: dict[str, tuple[str, Action]] = {
    "start": (LOCK, kill_before),
    "checked": (WRITES, kill_before),
    "insert": (WRITES, kill_held(BEFORE_UPDATE)),
    "update": (WRITES, kill_held(BEFORE_HOPPER)),
    "hopper": (WRITES, kill_held(BEFORE_DELETE)),
    "delete": (COMMIT, kill_before),
}
# Statements of the writes the server answered before the kill (insert, update, hopper,
# delete; None: never sent to a live connection).
ANSWERED = {"start": None, "checked": 0, "insert": 1, "update": 2, "hopper": 3, "delete": 4}


@pytest.mark.parametrize("dialer", DIALER_ENGINES)
@pytest.mark.parametrize("step", STEPS)
async def test_kill_at_each_step_leaves_no_orphan_hopper_row(
    service: Service, holds: None, step: str, dialer: str
) -> None:
    tdb = service.tdb
    await tdb.use_dialer_engine(dialer)
    transactional_hopper = tdb.engine == "InnoDB" and dialer == "list"
    ids, ledger = await prepare(service)
    await add_ready_rows(tdb, ids[:35])
    in_call, taken = ids[35], ids[36]
    await put_in_use(tdb, in_call, "call")
    await put_in_use(tdb, taken, "hopper INCALL")
    ready_before = await hopper_rows(tdb)
    rule = service.proxy.on_query(*KILLS[step])

    response = await service.post(full_request(ids))

    assert_killed(service, rule, response, ANSWERED[step])
    where = await assert_no_lead_lost(tdb.db, ledger)
    assert await orphan_hopper_rows(tdb) == []
    assert {in_call, taken} <= where.in_list
    if transactional_hopper or step in ("start", "checked", "insert", "update"):
        assert await hopper_rows(tdb) == ready_before  # rolled back, or not reached yet
    else:  # MyISAM or MEMORY, after the cleanup: the READY rows of deletable leads are gone
        assert await hopper_rows(tdb) == [(taken, "INCALL")]
    if tdb.engine == "MyISAM" and step == "delete":
        assert where.in_list == {in_call, taken}

    remaining = sorted(where.in_list)
    response = await service.post(full_request(remaining))
    assert response.status_code == 200, response.text
    assert response.json()["delete_count"] == len(remaining) - 2
    assert sorted(await tdb.rows(LEADS)) == sorted([in_call, taken])
    assert await hopper_rows(tdb) == [(taken, "INCALL")]
    assert await orphan_hopper_rows(tdb) == []
