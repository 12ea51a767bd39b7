"""CONTRACT.md section 2, line by line, over HTTP against the real stack, on both engines."""

from __future__ import annotations

import pytest

from tests.support import ARCHIVE, LEADS
from tests.support_shim import MONDAY_MORNING, Stack, full_request

UNAUTHORIZED = {"message": "unable to validate api user"}
OFFICE_HOURS = {"message": "api cannot be executed during office hours time condition"}


def bad_request(message: str, lead_ids=()) -> dict:
    return {"message": message, "lead_errors": len(lead_ids), "lead_ids": list(lead_ids)}


async def test_documented_request_archives_and_answers_exactly(stack: Stack) -> None:
    ids = await stack.tdb.seed(2)
    original = await stack.tdb.rows(LEADS)
    response = await stack.post(full_request(ids))
    assert response.status_code == 200
    assert response.json() == {
        "message": "lead_ids batch was successfully processed",
        "select_count": 2,
        "insert_count": 2,
        "update_count": 0,
        "delete_count": 2,
    }
    assert await stack.tdb.rows(ARCHIVE) == original
    assert await stack.tdb.count(LEADS) == 0


async def test_update_count_over_http(stack: Stack) -> None:
    ids = await stack.tdb.seed(3)
    await stack.tdb.copy_to_archive(ids)
    await stack.tdb.execute(f"UPDATE {LEADS} SET status = 'SALE' WHERE lead_id = %s", [ids[2]])
    response = await stack.post(full_request(ids, delete_leads=False))
    assert response.json() | {"message": ""} == {
        "message": "",
        "select_count": 3,
        "insert_count": 0,
        "update_count": 1,
        "delete_count": 0,
    }


# --- 1. Authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Key=", "Key=not-a-real-key-0123456789", "Bearer x", "Key=a b", "KEY=x"],
)
async def test_bad_or_missing_key_is_401(stack: Stack, authorization) -> None:
    ids = await stack.tdb.seed(1)
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    before = await stack.tdb.snapshot()
    response = await stack.post(full_request(ids), headers=headers)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    assert await stack.tdb.snapshot() == before


async def test_revoked_key_is_401(stack: Stack) -> None:
    await stack.tdb.execute("UPDATE lead_archive_api_keys SET revoked_at = NOW()")
    response = await stack.post(full_request([1]))
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


async def test_401_comes_before_a_broken_body(stack: Stack) -> None:
    response = await stack.post(raw=b"{not json", headers={})
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


# --- 2. Office hours -----------------------------------------------------------------------


async def test_office_hours_is_403_and_changes_nothing(stack: Stack) -> None:
    ids = await stack.tdb.seed(1)
    stack.clock.now = MONDAY_MORNING
    response = await stack.post(full_request(ids))
    assert (response.status_code, response.json()) == (403, OFFICE_HOURS)
    assert await stack.tdb.count(LEADS) == 1


@pytest.mark.parametrize("raw", [b"{not json", b'{"insert_leads": tru'])
async def test_403_comes_before_a_broken_body(stack: Stack, raw: bytes) -> None:
    stack.clock.now = MONDAY_MORNING
    response = await stack.post(raw=raw)
    assert (response.status_code, response.json()) == (403, OFFICE_HOURS)


# --- 3. Body -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"lead_ids": [1,]}', b"[1, 2]", b'"text"', b"42", b"null", b'{"a": NaN}'],
)
async def test_unparseable_or_non_object_body_is_500(stack: Stack, raw: bytes) -> None:
    response = await stack.post(raw=raw)
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"message", "lead_errors", "lead_ids"}
    assert (body["lead_errors"], body["lead_ids"]) == (0, [])
    assert body["message"] and "Traceback" not in body["message"]


async def test_parse_error_says_where_parsing_stopped(stack: Stack) -> None:
    response = await stack.post(raw=b'{\n  "lead_ids": [1, s]\n}')
    assert "line 2" in response.json()["message"]


# --- 4. Field checks, in order --------------------------------------------------------------


@pytest.mark.parametrize("flag", ["insert_leads", "update_leads", "delete_leads"])
@pytest.mark.parametrize("value", ["missing", 1, 0, "true", None, [], {}])
async def test_flags_must_be_json_booleans(stack: Stack, flag: str, value) -> None:
    ids = await stack.tdb.seed(1)
    body = full_request(ids)
    if value == "missing":
        del body[flag]
    else:
        body[flag] = value
    before = await stack.tdb.snapshot()
    response = await stack.post(body)
    assert response.status_code == 400
    assert response.json() == bad_request(f"{flag} must be a boolean value")
    assert await stack.tdb.snapshot() == before


async def test_flags_are_checked_in_order_before_lead_ids(stack: Stack) -> None:
    body = {"update_leads": "no", "delete_leads": None, "lead_ids": ["x"]}
    response = await stack.post(body)
    assert response.json() == bad_request("insert_leads must be a boolean value")
    body["insert_leads"] = False
    assert (await stack.post(body)).json() == bad_request("update_leads must be a boolean value")


NON_INTEGER_CASES = [
    pytest.param(b'["0"]', ["0"], id="string"),
    pytest.param(b"[1.5]", [1.5], id="float"),
    pytest.param(b"[1.0]", [1.0], id="integral-float"),
    pytest.param(b"[true, false]", [True, False], id="booleans"),
    pytest.param(b"[null]", [None], id="null"),
    pytest.param(b'[{"id": 1}]', [{"id": 1}], id="object"),
    pytest.param(b"[[1]]", [[1]], id="array"),
    pytest.param(b'[1, "2", 3, 4.5]', ["2", 4.5], id="mixed-in-order"),
    pytest.param(b'"1,2"', ["1,2"], id="not-an-array"),
    pytest.param(b"7", [7], id="bare-number"),
    pytest.param(b"{}", [{}], id="object-instead-of-array"),
]


@pytest.mark.parametrize(("lead_ids", "offending"), NON_INTEGER_CASES)
async def test_lead_ids_must_be_integers(stack: Stack, lead_ids: bytes, offending) -> None:
    raw = b'{"insert_leads": true, "update_leads": true, "delete_leads": true, "lead_ids": '
    response = await stack.post(raw=raw + lead_ids + b"}")
    assert response.status_code == 400
    assert response.json() == bad_request("lead_ids must only contain integer values", offending)


async def test_offending_numbers_are_echoed_as_sent(stack: Stack) -> None:
    raw = b'{"insert_leads":true,"update_leads":true,"delete_leads":true,"lead_ids":[1e3, 2.50]}'
    response = await stack.post(raw=raw)
    assert b'"lead_ids":[1e3,2.50]' in response.content.replace(b" ", b"")


@pytest.mark.parametrize("lead_ids", ["missing", None, []])
async def test_lead_ids_missing_null_or_empty(stack: Stack, lead_ids) -> None:
    body = full_request(lead_ids)
    if lead_ids == "missing":
        del body["lead_ids"]
    response = await stack.post(body)
    assert response.status_code == 400
    assert response.json() == bad_request("lead_ids must contain atleast 1 value")


async def test_more_than_500_is_refused_before_duplicates_or_existence(stack: Stack) -> None:
    response = await stack.post(full_request([5] * 501))
    assert response.status_code == 400
    assert response.json() == bad_request("lead_ids cannot exceed 500 values")


async def test_500_distinct_existing_leads_are_accepted(stack: Stack) -> None:
    ids = await stack.tdb.seed(500)
    response = await stack.post(full_request(ids))
    assert response.status_code == 200
    assert response.json()["delete_count"] == 500


async def test_duplicates_listed_once_in_first_seen_order(stack: Stack) -> None:
    ids = await stack.tdb.seed(3)
    a, b, c = ids
    response = await stack.post(full_request([b, a, b, c, a, b, 2**70, 2**70]))
    assert response.status_code == 400
    assert response.json() == bad_request("lead_ids cannot contain duplicate values", [b, a, 2**70])


async def test_ids_not_in_vicidial_list_all_listed_in_request_order(stack: Stack) -> None:
    ids = await stack.tdb.seed(2)
    weird = [-1, 0, 2**32, 2**63, 2**64 + 5, -(2**70)]
    request = [ids[0], *weird[:3], ids[1], *weird[3:]]
    before = await stack.tdb.snapshot()
    response = await stack.post(full_request(request))
    assert response.status_code == 400
    assert response.json() == bad_request("lead_ids does not exist", weird)
    assert await stack.tdb.snapshot() == before


async def test_already_archived_lead_not_in_vicidial_list_does_not_exist(stack: Stack) -> None:
    ids = await stack.tdb.seed(1)
    assert (await stack.post(full_request(ids))).status_code == 200
    response = await stack.post(full_request(ids))
    assert response.json() == bad_request("lead_ids does not exist", ids)


async def test_unknown_request_fields_are_ignored(stack: Stack) -> None:
    ids = await stack.tdb.seed(1)
    response = await stack.post(full_request(ids) | {"campaign": "X", "dry_run": True})
    assert response.status_code == 200


async def test_content_type_is_not_required(stack: Stack) -> None:
    ids = await stack.tdb.seed(1)
    headers = {"Authorization": f"Key={stack.key}"}
    response = await stack.post(full_request(ids), headers=headers)
    assert response.status_code == 200


# --- 5. Phase order and the safe delete over HTTP -------------------------------------------


async def test_delete_without_insert_keeps_unarchived_leads(stack: Stack) -> None:
    ids = await stack.tdb.seed(2)
    await stack.tdb.copy_to_archive(ids[:1])
    response = await stack.post(full_request(ids, insert_leads=False, update_leads=False))
    assert response.json()["delete_count"] == 1
    assert list(await stack.tdb.rows(LEADS)) == ids[1:]


async def test_case_only_difference_is_not_deleted(stack: Stack) -> None:
    ids = await stack.tdb.seed(1)
    await stack.tdb.copy_to_archive(ids)
    await stack.tdb.execute(f"UPDATE {LEADS} SET last_name = 'SMITH'")
    response = await stack.post(full_request(ids, insert_leads=False, update_leads=False))
    assert response.json()["delete_count"] == 0
    assert await stack.tdb.count(LEADS) == 1


# --- The endpoint answers only the documented codes -----------------------------------------


async def test_database_failure_is_500_without_sql_or_trace(stack: Stack) -> None:
    ids = await stack.tdb.seed(1)
    await stack.tdb.execute(f"DROP TABLE {ARCHIVE}")
    response = await stack.post(full_request(ids))
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"message", "lead_errors", "lead_ids"}
    assert "vicidial_list_archive" in body["message"]
    assert "SELECT" not in body["message"] and "Traceback" not in body["message"]
    assert await stack.tdb.count(LEADS) == 1
