"""restore() on every client flavour against the real server and database (CONTRACT 8)."""

from __future__ import annotations

import asyncio
import time

import pytest
from lead_archive_client import (
    AsyncLeadArchiveClient,
    InvalidLeads,
    LeadArchiveClient,
    OfficeHours,
    RestoreResult,
    RetryPolicy,
    Unauthenticated,
    Unavailable,
    UnknownLeads,
)

from tests.support import ARCHIVE, LEADS
from tests.support_shim import MONDAY_MORNING
from tests.support_stack import FLAVOURS, GRPC_FLAVOURS, Stack, expect

every_flavour = pytest.mark.parametrize("flavour", FLAVOURS)


@every_flavour
async def test_archive_then_restore_gives_the_leads_back(stack: Stack, flavour: str) -> None:
    ids = await stack.tdb.seed(4)
    original = await stack.tdb.rows(LEADS)
    caller = stack.caller(flavour)
    await caller.archive(ids)
    # One lead is live again with other data: it stays in both tables and counts as kept.
    await stack.tdb.execute(
        f"INSERT INTO {LEADS} SELECT * FROM {ARCHIVE} WHERE lead_id = %s", [ids[0]]
    )
    await stack.tdb.execute(f"UPDATE {LEADS} SET city = 'Elsewhere' WHERE lead_id = %s", [ids[0]])

    result = await caller.restore(ids)

    assert result == RestoreResult(select_count=4, insert_count=3, delete_count=3, kept_count=1)
    assert result + result == RestoreResult(8, 6, 6, 2)
    restored = await stack.tdb.rows(LEADS)
    assert {i: restored[i] for i in ids[1:]} == {i: original[i] for i in ids[1:]}
    assert list(await stack.tdb.rows(ARCHIVE)) == [ids[0]]


@every_flavour
async def test_restore_runs_in_office_hours(stack1: Stack, flavour: str) -> None:
    ids = await stack1.tdb.seed(2)
    caller = stack1.caller(flavour)
    await caller.archive(ids)
    stack1.clock.now = MONDAY_MORNING
    with pytest.raises(OfficeHours):
        await caller.archive(await stack1.tdb.seed(1))
    assert (await caller.restore(ids)).delete_count == 2


@every_flavour
async def test_restore_errors_are_typed_as_for_archive(stack1: Stack, flavour: str) -> None:
    ids = await stack1.tdb.seed(2)
    caller = stack1.caller(flavour)
    await caller.archive(ids[:1])
    wrong = stack1.caller(flavour, api_key="not-a-real-key-0123456789")
    error = await expect(
        stack1, wrong.restore(ids[:1]), Unauthenticated, "unable to validate api user"
    )
    assert error.status == 401
    await expect(stack1, caller.restore([]), InvalidLeads, "lead_ids must contain atleast 1 value")
    await expect(
        stack1, caller.restore(range(1, 502)), InvalidLeads, "lead_ids cannot exceed 500 values"
    )
    await expect(
        stack1,
        caller.restore([ids[0], ids[0]]),
        InvalidLeads,
        "lead_ids cannot contain duplicate values",
        [ids[0]],
    )
    # ids[1] is live, not archived: for a restore it does not exist.
    await expect(
        stack1,
        caller.restore([ids[0], ids[1], 2**40]),
        UnknownLeads,
        "lead_ids does not exist",
        [ids[1], 2**40],
    )
    with pytest.raises(TypeError):
        await caller.restore(["1"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="64-bit"):
        await caller.restore([2**64])


@every_flavour
async def test_unreachable_server_is_unavailable_for_restore(stack1: Stack, flavour: str) -> None:
    await stack1.stop_rest()
    await stack1.stop_grpc()
    caller = stack1.caller(flavour, retry=RetryPolicy(deadline=1.0, initial_backoff=0.1))
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await caller.restore([1])
    assert 0.5 < time.monotonic() - started < 5


@pytest.mark.parametrize("flavour", GRPC_FLAVOURS)
async def test_check_access_key_only_passes_in_office_hours(stack1: Stack, flavour: str) -> None:
    stack1.clock.now = MONDAY_MORNING
    if flavour == "grpc":
        with LeadArchiveClient(stack1.grpc_target, stack1.key) as client:
            with pytest.raises(OfficeHours):
                await asyncio.to_thread(client.check_access)
            assert (await asyncio.to_thread(client.check_access, key_only=True)).api_user == "6666"
    else:
        async with AsyncLeadArchiveClient(stack1.grpc_target, stack1.key) as aclient:
            with pytest.raises(OfficeHours):
                await aclient.check_access()
            assert (await aclient.check_access(key_only=True)).api_user == "6666"
