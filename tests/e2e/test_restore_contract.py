"""POST /vicidial/leads/restore and RestoreLeads (CONTRACT 8), the whole stack in process."""

from __future__ import annotations

import grpc
import pytest
from lead_archive_server.access.keys import create_key
from lead_archive_server.runtime.app import create_server
from lead_archive_server.service.audit import RESTORE_EVENT_CODE
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.support import ARCHIVE, LEADS, TestDb, admin_log
from tests.support_ops import lead_errors, ops_stack, settings_for
from tests.support_shim import MONDAY_MORNING, Clock, Stack, full_request

RESTORE = "/vicidial/leads/restore"
SUCCESS = "lead_ids batch was successfully processed"


async def restore(stack: Stack, body: object = None, *, raw: bytes | None = None, headers=None):
    sent = dict(stack.headers if headers is None else headers)
    if raw is None:
        return await stack.http.post(RESTORE, json=body, headers=sent)
    return await stack.http.post(RESTORE, content=raw, headers=sent)


async def archived(stack: Stack, count: int) -> list[int]:
    ids = await stack.tdb.seed(count)
    response = await stack.post(full_request(ids))
    assert response.status_code == 200, response.text
    return ids


def error(message: str, lead_ids: list[object] | None = None, lead_errors: int | None = None):
    ids = lead_ids or []
    count = len(ids) if lead_errors is None else lead_errors
    return {"message": message, "lead_errors": count, "lead_ids": ids}


async def test_restore_answers_exactly_the_four_documented_fields(stack: Stack) -> None:
    ids = await archived(stack, 3)
    before = await stack.tdb.rows(ARCHIVE)
    response = await restore(stack, {"lead_ids": ids, "insert_leads": "ignored"})
    assert response.status_code == 200
    assert response.json() == {
        "message": SUCCESS,
        "select_count": 3,
        "insert_count": 3,
        "delete_count": 3,
    }
    assert await stack.tdb.rows(LEADS) == before
    assert await stack.tdb.count(ARCHIVE) == 0


async def test_office_hours_do_not_apply_to_restore(stack: Stack) -> None:
    ids = await archived(stack, 2)
    stack.clock.now = MONDAY_MORNING
    assert (await stack.post(full_request(ids))).status_code == 403  # archiving is refused
    response = await restore(stack, {"lead_ids": ids})
    assert (response.status_code, response.json()["delete_count"]) == (200, 2)
    # The shim's own checks ask about the key only, too.
    response = await restore(stack, raw=b"{nope")
    assert response.status_code == 500
    response = await restore(stack, {"lead_ids": ["1"]})
    assert (response.status_code, response.json()) == (
        400,
        error("lead_ids must only contain integer values", ["1"]),
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Key=wrong"}, {"Authorization": "Bearer x"}],
    ids=["missing", "unknown", "malformed"],
)
async def test_401_comes_before_everything(stack: Stack, headers: dict[str, str]) -> None:
    for body in (b"{not json", b'{"lead_ids": ["x"]}', b'{"lead_ids": []}', b'{"lead_ids": [1]}'):
        response = await restore(stack, raw=body, headers=headers)
        assert (response.status_code, response.json()) == (
            401,
            {"message": "unable to validate api user"},
        )


@pytest.mark.parametrize(
    ("raw", "starts"),
    [
        (b"{not json", "request body is not valid JSON"),
        (b"[1, 2]", "request body must be a JSON object, not an array"),
    ],
)
async def test_a_body_that_is_not_an_object_is_a_500(stack: Stack, raw: bytes, starts: str) -> None:
    response = await restore(stack, raw=raw)
    assert response.status_code == 500
    body = response.json()
    assert body["message"].startswith(starts)
    assert (body["lead_errors"], body["lead_ids"]) == (0, [])


async def test_lead_ids_checks_in_the_documented_order(stack: Stack) -> None:
    ids = await archived(stack, 2)
    live = await stack.tdb.seed(1)  # in vicidial_list, not in the archive
    cases = [
        (
            {"lead_ids": [1, "2", 1.0, None, True]},
            400,
            error("lead_ids must only contain integer values", ["2", 1.0, None, True]),
        ),
        ({"lead_ids": 7}, 400, error("lead_ids must only contain integer values", [7])),
        ({}, 400, error("lead_ids must contain atleast 1 value")),
        ({"lead_ids": None}, 400, error("lead_ids must contain atleast 1 value")),
        ({"lead_ids": []}, 400, error("lead_ids must contain atleast 1 value")),
        ({"lead_ids": [1] * 501}, 400, error("lead_ids cannot exceed 500 values")),
        (
            {"lead_ids": [ids[0], ids[1], ids[0], 5, 5]},
            400,
            error("lead_ids cannot contain duplicate values", [ids[0], 5]),
        ),
        (
            {"lead_ids": [live[0], ids[0], 2**70, -1]},
            400,
            error("lead_ids does not exist", [live[0], 2**70, -1]),
        ),
    ]
    before = await stack.tdb.snapshot()
    for body, status, expected in cases:
        response = await restore(stack, body)
        assert (response.status_code, response.json()) == (status, expected), body
    assert await stack.tdb.snapshot() == before


async def test_a_lead_live_with_other_data_stays_in_both_tables(stack: Stack) -> None:
    ids = await archived(stack, 2)
    await stack.tdb.execute(
        f"INSERT INTO {LEADS} SELECT * FROM {ARCHIVE} WHERE lead_id = %s", [ids[0]]
    )
    await stack.tdb.execute(f"UPDATE {LEADS} SET status = 'CALLBK' WHERE lead_id = %s", [ids[0]])
    before = (await stack.tdb.rows(LEADS, [ids[0]]), await stack.tdb.rows(ARCHIVE, [ids[0]]))
    response = await restore(stack, {"lead_ids": ids})
    assert response.json() == {
        "message": SUCCESS,
        "select_count": 2,
        "insert_count": 1,
        "delete_count": 1,
    }
    after = (await stack.tdb.rows(LEADS, [ids[0]]), await stack.tdb.rows(ARCHIVE, [ids[0]]))
    assert after == before


async def test_grpc_restore_reports_kept_and_errors_with_lead_errors(tdb: TestDb) -> None:
    async with ops_stack(tdb) as stack:
        ids = await tdb.seed(3)
        await stack.archive_call(ids)
        await tdb.execute(
            f"INSERT INTO {LEADS} SELECT * FROM {ARCHIVE} WHERE lead_id = %s", [ids[2]]
        )
        await tdb.execute(f"UPDATE {LEADS} SET first_name = 'JOHN' WHERE lead_id = %s", [ids[2]])
        call = stack.stub.RestoreLeads(pb.RestoreLeadsRequest(lead_ids=ids), metadata=stack.auth)
        reply = await call
        assert (reply.message, reply.select_count, reply.insert_count) == (SUCCESS, 3, 2)
        assert (reply.delete_count, reply.kept_count) == (2, 1)

        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stack.stub.RestoreLeads(
                pb.RestoreLeadsRequest(lead_ids=[ids[0], 424242]), metadata=stack.auth
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        detail = lead_errors(raised.value)
        assert (detail.message, list(detail.lead_ids)) == (
            "lead_ids does not exist",
            [ids[0], 424242],
        )

        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stack.stub.RestoreLeads(pb.RestoreLeadsRequest(lead_ids=[ids[2]]))
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED

        found = await stack.scrape()
    restored = {
        action: found[("lead_archive_restored_leads_total", (("action", action),))]
        for action in ("selected", "inserted", "deleted", "kept")
    }
    assert restored["selected"] >= 3 and restored["kept"] >= 1
    assert (
        found[("lead_archive_grpc_requests_total", (("method", "RestoreLeads"), ("outcome", "OK")))]
        >= 1
    )


async def test_check_access_key_only_skips_office_hours(tdb: TestDb) -> None:
    server, port = create_server(
        settings_for(tdb, timezone="UTC"), tdb.db, clock=Clock(MONDAY_MORNING), port=0
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.LeadArchiveServiceStub(channel)
            auth = [("authorization", f"Key={await create_key(tdb.db, '6666')}")]
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.CheckAccess(pb.CheckAccessRequest(), metadata=auth)
            assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
            reply = await stub.CheckAccess(pb.CheckAccessRequest(key_only=True), metadata=auth)
            assert reply.api_user == "6666"
    finally:
        await server.stop(None)


@pytest.mark.usefixtures("log_table")
async def test_a_restore_that_changed_data_writes_one_audit_row(tdb: TestDb) -> None:
    async with ops_stack(tdb) as stack:
        ids = await tdb.seed(2)
        await stack.archive_call(ids)
        call = stack.stub.RestoreLeads(pb.RestoreLeadsRequest(lead_ids=ids), metadata=stack.auth)
        await call
        rid = dict(await call.trailing_metadata())["x-request-id"]
        # Nothing left to change: a second restore is refused (not in the archive), no row.
        response = await stack.http.post(
            RESTORE, json={"lead_ids": ids}, headers={"Authorization": f"Key={stack.key}"}
        )
        assert response.status_code == 400
    rows = [row for row in await admin_log(tdb) if row["event_code"] == RESTORE_EVENT_CODE]
    assert len(rows) == 1
    row = rows[0]
    assert (row["user"], row["event_section"], row["event_type"]) == ("6666", "LEADS", "ADD")
    assert row["record_id"] == rid
    joined = ",".join(map(str, ids))
    assert row["event_notes"] == (
        f"select_count: 2|insert_count: 2|delete_count: 2|kept_count: 0|lead_ids: {joined}"
    )
    assert row["event_sql"].startswith(f"INSERT INTO vicidial_list SELECT * FROM {ARCHIVE}")
