"""Keys with least privilege (CONTRACT 10): every scope against every endpoint, over gRPC and
REST and through every client flavour; expiry at its boundary; the last use kept in memory and
written by the flush; rotation's grace period; the limiter not counting scope refusals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from lead_archive_client import Access, ScopeMissing, Unauthenticated
from lead_archive_client.vocabulary import (
    ARCHIVE_PATH,
    REASON_HEADER,
    RESTORE_PATH,
    STATUS_DETAILS_KEY,
    Reason,
)
from lead_archive_server.access.auth_limit import FailedAuthLimiter
from lead_archive_server.access.guard import AccessGuard
from lead_archive_server.access.keys import (
    Expiry,
    KeyUses,
    LiveKeyHashes,
    create_key,
    list_keys,
    rotate_key,
)
from lead_archive_server.access.schedules import office_hours_source
from lead_archive_server.core.errors import ScopeMissing as ScopeRefused
from lead_archive_server.core.errors import Unauthenticated as KeyRefused
from lead_archive_server.runtime.settings import Settings
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.support import LEADS, TestDb, wait_until
from tests.support_ops import ops_stack
from tests.support_stack import FLAVOURS, GRPC_FLAVOURS, Stack, running_stack

SCOPE_SETS = {
    "archive-only": ("archive",),
    "restore-only": ("restore",),
    "both": ("archive", "restore"),
}
SCOPED = pytest.mark.parametrize("scopes", list(SCOPE_SETS.values()), ids=list(SCOPE_SETS))
REFUSED = {"message": "unable to validate api user"}
ADDRESS = "198.51.100.9"


@pytest.fixture
async def stack(tdb: TestDb) -> AsyncIterator[Stack]:
    """gRPC and the REST shim on loopback ports, on each engine (outside office hours)."""
    async with running_stack(tdb) as made:
        yield made


async def leads_both_ways(tdb: TestDb) -> tuple[list[int], list[int]]:
    """Two leads to archive, and two archived leads to restore."""
    live = await tdb.seed(2)
    archived = await tdb.seed(2)
    await tdb.copy_to_archive(archived)
    await tdb.execute(f"DELETE FROM {LEADS} WHERE lead_id IN (%s, %s)", archived)
    return live, archived


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo of a failed call's status details."""
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY:
            for packed in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if packed.Unpack(info):
                    return info
    raise AssertionError("no ErrorInfo in the status")


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "lacks the" in r.getMessage()]


# --- Every scope against every endpoint ------------------------------------------------------


@SCOPED
async def test_every_scope_against_every_grpc_method(
    stack: Stack, scopes: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    tdb = stack.tdb
    live, archived = await leads_both_ways(tdb)
    key = await create_key(tdb.db, "nightly", scopes=scopes)
    auth = [("authorization", f"Key={key}")]
    calls = {
        "archive": lambda stub: stub.ArchiveLeads(
            pb.ArchiveLeadsRequest(
                insert_leads=True, update_leads=True, delete_leads=True, lead_ids=live
            ),
            metadata=auth,
        ),
        "restore": lambda stub: stub.RestoreLeads(
            pb.RestoreLeadsRequest(lead_ids=archived), metadata=auth
        ),
    }
    caplog.set_level(logging.WARNING, logger="server.access")
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.LeadArchiveServiceStub(channel)
        # CheckAccess answers any live key, with its scopes.
        reply = await stub.CheckAccess(pb.CheckAccessRequest(), metadata=auth)
        assert (reply.api_user, tuple(reply.scopes)) == ("nightly", scopes)
        for scope, call in calls.items():
            asked = pb.CheckAccessRequest(scope=scope)
            if scope in scopes:
                assert (await stub.CheckAccess(asked, metadata=auth)).api_user == "nightly"
                assert (await call(stub)).select_count == 2
                continue
            before = await tdb.snapshot()
            for refused in (call(stub), stub.CheckAccess(asked, metadata=auth)):
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await refused
                assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
                assert raised.value.details() == REFUSED["message"]
                info = error_info(raised.value)
                assert (info.reason, dict(info.metadata)) == ("KEY_SCOPE_MISSING", {"scope": scope})
            assert await tdb.snapshot() == before  # nothing read into, nothing changed
            logged = refusals(caplog)
            assert logged and all(
                "nightly" in line and f"the {scope} scope" in line for line in logged
            )
    missing = [scope for scope in ("archive", "restore") if scope not in scopes]
    assert len(refusals(caplog)) == 2 * len(missing)


@SCOPED
async def test_every_scope_against_every_rest_endpoint(
    stack: Stack, scopes: tuple[str, ...]
) -> None:
    tdb = stack.tdb
    live, archived = await leads_both_ways(tdb)
    key = await create_key(tdb.db, "nightly", scopes=scopes)
    headers = {"Authorization": f"Key={key}"}
    flags = {"insert_leads": True, "update_leads": True, "delete_leads": True}
    bodies = {
        "archive": (ARCHIVE_PATH, flags | {"lead_ids": live}),
        "restore": (RESTORE_PATH, {"lead_ids": archived}),
    }
    async with httpx.AsyncClient(base_url=stack.rest_url) as http:
        for scope, (path, body) in bodies.items():
            if scope in scopes:
                response = await http.post(path, json=body, headers=headers)
                assert response.status_code == 200, response.text
                continue
            before = await tdb.snapshot()
            # The refusal comes first: before a body that is not JSON, or not integers.
            for sent in ({"json": body}, {"content": b"{not json"}, {"json": {"lead_ids": ["1"]}}):
                response = await http.post(path, headers=headers, **sent)
                assert (response.status_code, response.json()) == (401, REFUSED)
                assert response.headers[REASON_HEADER] == "KEY_SCOPE_MISSING"
            assert await tdb.snapshot() == before


async def test_a_key_the_shim_knows_from_one_endpoint_is_still_refused_at_the_other(
    stack: Stack,
) -> None:
    tdb = stack.tdb
    live, archived = await leads_both_ways(tdb)
    key = await create_key(tdb.db, "nightly", scopes=("archive",))
    headers = {"Authorization": f"Key={key}"}
    flags = {"insert_leads": True, "update_leads": True, "delete_leads": False}
    async with httpx.AsyncClient(base_url=stack.rest_url) as http:
        ok = await http.post(ARCHIVE_PATH, json=flags | {"lead_ids": live}, headers=headers)
        assert ok.status_code == 200, ok.text  # the shim now knows this key
        before = await tdb.snapshot()
        for _ in range(2):
            response = await http.post(RESTORE_PATH, json={"lead_ids": archived}, headers=headers)
            assert (response.status_code, response.json()) == (401, REFUSED)
            assert response.headers[REASON_HEADER] == "KEY_SCOPE_MISSING"
    assert await tdb.snapshot() == before


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_every_client_raises_scope_missing_with_the_scope(stack: Stack, flavour: str) -> None:
    tdb = stack.tdb
    live, archived = await leads_both_ways(tdb)
    archive_only = await create_key(tdb.db, "nightly", scopes=("archive",))
    restore_only = await create_key(tdb.db, "operator", scopes=("restore",))
    before = await tdb.snapshot()
    with pytest.raises(ScopeMissing) as raised:
        await stack.caller(flavour, api_key=restore_only).archive(live)
    assert (raised.value.scope, raised.value.status) == ("archive", 401)
    assert raised.value.reason == Reason.KEY_SCOPE_MISSING
    assert raised.value.message == REFUSED["message"]
    assert isinstance(raised.value, Unauthenticated)
    with pytest.raises(ScopeMissing) as raised:
        await stack.caller(flavour, api_key=archive_only).restore(archived)
    assert raised.value.scope == "restore"
    assert await tdb.snapshot() == before
    assert (await stack.caller(flavour, api_key=restore_only).restore(archived)).insert_count == 2


@pytest.mark.parametrize("flavour", GRPC_FLAVOURS)
async def test_grpc_clients_tell_a_keys_scopes(stack: Stack, flavour: str) -> None:
    key = await create_key(stack.tdb.db, "operator", scopes=("restore",))
    client = stack.caller(flavour, api_key=key).client

    async def check(**asked: Any) -> Access:
        if flavour.endswith("-async"):
            return await client.check_access(**asked)  # type: ignore[no-any-return]
        return await asyncio.to_thread(lambda: client.check_access(**asked))

    access = await check()
    assert access == Access(api_user="operator", scopes=("restore",))
    assert access.allows("restore") and not access.allows("archive")
    assert (await check(key_only=True, scope="restore")).api_user == "operator"
    with pytest.raises(ScopeMissing) as raised:
        await check(scope="archive")
    assert raised.value.scope == "archive"
    assert raised.value.grpc_code == grpc.StatusCode.PERMISSION_DENIED


# --- The access guard: the limiter, expiry, last use, rotation ------------------------------


def guard(tdb: TestDb, *, limit: int = 10, key_uses: KeyUses | None = None) -> AccessGuard:
    settings = Settings(database_url=tdb.db.url.url(), office_hours="none", timezone="UTC")
    return AccessGuard(
        tdb.db,
        office_hours_source(settings.server.office, tdb.db),
        limiter=FailedAuthLimiter(max_failures=limit),
        key_uses=key_uses or KeyUses(),
    )


async def test_scope_refusals_are_not_failed_authentications(tdb: TestDb) -> None:
    access = guard(tdb, limit=2)
    key = f"Key={await create_key(tdb.db, 'nightly', scopes=('archive',))}"
    for _ in range(5):
        with pytest.raises(ScopeRefused):
            await access.admit(key, ADDRESS, scope="restore")
    assert not access.limiter.blocked(ADDRESS)
    with pytest.raises(KeyRefused):  # one real failure: under the limit of 2
        await access.admit("Key=nobody-has-this-key-0123", ADDRESS)
    assert not access.limiter.blocked(ADDRESS)
    assert await access.admit(key, ADDRESS, scope="archive") == "nightly"
    with pytest.raises(KeyRefused):  # the second real failure reaches the limit
        await access.admit("Key=nobody-has-this-key-0123", ADDRESS)
    assert access.limiter.blocked(ADDRESS)


async def poll_until_refused(access: AccessGuard, key: str, seconds: float = 15) -> int:
    """Admit the key until it is refused; return how many times it was admitted first."""
    admitted = 0
    async with asyncio.timeout(seconds):
        while True:
            try:
                await access.admit(key)
            except KeyRefused:
                return admitted
            admitted += 1
            await asyncio.sleep(0.05)  # counts admissions over time: the pace is the point


async def test_a_key_works_until_it_expires_then_is_refused_like_a_revoked_one(
    stack: Stack,
) -> None:
    tdb = stack.tdb
    live, _ = await leads_both_ways(tdb)
    key = await create_key(tdb.db, "temp", expires=Expiry(1))
    access = guard(tdb)
    assert await poll_until_refused(access, f"Key={key}") > 0  # it worked before its expiry
    assert not await LiveKeyHashes().contains(tdb.db, key)
    [listed] = [k for k in await list_keys(tdb.db) if k.api_user == "temp"]
    assert listed.expired and not listed.live
    before = await tdb.snapshot()
    flags = {"insert_leads": True, "update_leads": True, "delete_leads": True}
    async with httpx.AsyncClient(base_url=stack.rest_url) as http:
        response = await http.post(
            ARCHIVE_PATH, json=flags | {"lead_ids": live}, headers={"Authorization": f"Key={key}"}
        )
    assert (response.status_code, response.json()) == (401, REFUSED)
    assert response.headers[REASON_HEADER] == "API_KEY_INVALID"  # exactly as a revoked key
    assert await tdb.snapshot() == before


async def test_rotation_keeps_both_keys_working_through_the_grace_period(tdb: TestDb) -> None:
    old = await create_key(tdb.db, "nightly", scopes=("archive",))
    [old_id] = [k.key_id for k in await list_keys(tdb.db)]
    rotated = await rotate_key(tdb.db, old_id, grace_s=2)
    assert rotated is not None
    assert (rotated.api_user, rotated.scopes) == ("nightly", ("archive",))
    access = guard(tdb)
    new = f"Key={rotated.new.key}"
    assert (await access.admit_key(new)).scopes == ("archive",)
    assert await poll_until_refused(access, f"Key={old}") > 0  # worked during the grace
    assert await access.admit(new, scope="archive") == "nightly"  # the new key goes on
    assert await rotate_key(tdb.db, old_id, grace_s=60) is None  # no live key to rotate


async def last_use(tdb: TestDb, user: str) -> tuple[Any, ...]:
    rows = await tdb.fetch(
        "SELECT last_used_at, last_used_from, "
        "ABS(TIMESTAMPDIFF(SECOND, last_used_at, UTC_TIMESTAMP())) "
        "FROM lead_archive_api_keys WHERE api_user = %s",
        (user,),
    )
    return tuple(rows[0])


async def test_last_use_is_kept_in_memory_and_written_once_per_key_by_the_flush(
    tdb: TestDb,
) -> None:
    uses = KeyUses()
    access = guard(tdb, key_uses=uses)
    key = f"Key={await create_key(tdb.db, 'nightly')}"
    other = f"Key={await create_key(tdb.db, 'operator')}"
    for _ in range(20):
        await access.admit(key, ADDRESS)
    await access.admit(other, "203.0.113.7")
    assert await last_use(tdb, "nightly") == (None, None, None)  # no write per request
    assert uses.pending == 2
    assert await uses.flush(tdb.db) == 2  # one write per key, however many uses
    when, address, off_by_s = await last_use(tdb, "nightly")
    assert address == ADDRESS and when is not None and off_by_s < 60
    assert (await last_use(tdb, "operator"))[1] == "203.0.113.7"
    assert await uses.flush(tdb.db) == 0  # nothing new: nothing written


async def test_the_service_flushes_last_use_in_the_background_and_at_shutdown(
    tdb: TestDb,
) -> None:
    async with ops_stack(tdb, key_use_flush_s=0.2) as stack:
        await stack.ops.start()
        await stack.stub.CheckAccess(pb.CheckAccessRequest(), metadata=stack.auth)

        async def flushed() -> bool:
            return (await last_use(tdb, "6666"))[0] is not None

        await wait_until(flushed, 15, "the background flush of last use", every=0.05)
    assert (await last_use(tdb, "6666"))[1] == "127.0.0.1"
    await tdb.execute("DELETE FROM lead_archive_api_keys")
    async with ops_stack(tdb, key_use_flush_s=3600) as stack:
        await stack.ops.start()
        for _ in range(5):
            await stack.stub.CheckAccess(pb.CheckAccessRequest(), metadata=stack.auth)
        assert (await last_use(tdb, "6666"))[0] is None  # not before the flush
    _, address, off_by_s = await last_use(tdb, "6666")  # written at shutdown
    assert address == "127.0.0.1" and off_by_s < 60


async def test_a_refused_key_is_no_use(tdb: TestDb) -> None:
    uses = KeyUses()
    access = guard(tdb, key_uses=uses)
    key = f"Key={await create_key(tdb.db, 'nightly', scopes=('archive',))}"
    with pytest.raises(ScopeRefused):
        await access.admit(key, ADDRESS, scope="restore")
    assert uses.pending == 0
