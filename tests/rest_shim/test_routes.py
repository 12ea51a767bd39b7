"""POST /vicidial/leads/archive over HTTP, against a fake gRPC LeadArchiveService."""

from __future__ import annotations

import json
import logging
from typing import Any

import grpc
import httpx
import pytest
from lead_archive_client.vocabulary import NOT_INTEGER_MESSAGE, Reason, message
from lead_archive_rest_shim import messages

from tests.rest_shim.support_fake import (
    GOOD_KEY,
    OFFICE_HOURS,
    SUCCESS,
    UNAUTHENTICATED,
    Failure,
    FakeLeadArchive,
    Raise,
    shim_client,
)

PATH = "/vicidial/leads/archive"
AUTH = {"Authorization": GOOD_KEY, "Content-Type": "application/json"}
FLAGS = '"insert_leads": true, "update_leads": true, "delete_leads": true'


def lead_error(message: str, lead_ids: list[Any] | None = None) -> dict[str, Any]:
    lead_ids = lead_ids or []
    return {"message": message, "lead_errors": len(lead_ids), "lead_ids": lead_ids}


async def post(
    client: httpx.AsyncClient, body: str | bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(PATH, content=body, headers=AUTH if headers is None else headers)


def with_ids(ids: str, flags: str = FLAGS) -> str:
    return f"{{{flags}, {ids}}}"


# --- 200 ---------------------------------------------------------------------------------


async def test_success_has_exactly_the_documented_fields(
    client: httpx.AsyncClient, fake: FakeLeadArchive
) -> None:
    response = await post(client, with_ids('"lead_ids": [1, 2]'))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "message": SUCCESS,
        "select_count": 2,
        "insert_count": 2,
        "update_count": 0,
        "delete_count": 2,
    }
    assert fake.methods() == ["CheckAccess", "ArchiveLeads"]  # the key before the body
    request = fake.archive_call().request
    assert (request.insert_leads, request.update_leads, request.delete_leads) == (True,) * 3
    assert list(request.lead_ids) == [1, 2]


async def test_the_authorization_header_is_forwarded_unchanged(
    client: httpx.AsyncClient, fake: FakeLeadArchive
) -> None:
    await post(client, with_ids('"lead_ids": [1]'), {"Authorization": "Key=some key"})
    assert fake.calls[0].metadata["authorization"] == "Key=some key"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": GOOD_KEY},
        {"Authorization": GOOD_KEY, "Content-Type": "text/plain"},
        {"Authorization": GOOD_KEY, "Content-Type": "application/x-www-form-urlencoded"},
    ],
    ids=["no content type", "text/plain", "form"],
)
async def test_the_body_is_json_whatever_the_content_type(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await post(client, with_ids('"lead_ids": [1]'), headers)
    assert response.status_code == 200, response.text


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    response = await post(client, with_ids('"lead_ids": [3], "note": {"x": [1.5, "y"]}'))
    assert response.status_code == 200, response.text


# --- 401 / 403 ---------------------------------------------------------------------------


async def test_no_key_is_401_with_only_a_message(
    client: httpx.AsyncClient, fake: FakeLeadArchive
) -> None:
    response = await post(client, with_ids('"lead_ids": [1]'), {})
    assert response.status_code == 401
    assert response.json() == {"message": UNAUTHENTICATED}
    assert "authorization" not in fake.calls[0].metadata


async def test_a_header_grpc_cannot_carry_is_not_forwarded(
    client: httpx.AsyncClient, fake: FakeLeadArchive
) -> None:
    response = await post(client, with_ids('"lead_ids": [1]'), {"Authorization": "Key=a\tb"})
    assert response.status_code == 401
    assert response.json() == {"message": UNAUTHENTICATED}
    assert "authorization" not in fake.calls[0].metadata


async def test_office_hours_is_403_with_only_a_message(
    client: httpx.AsyncClient, fake: FakeLeadArchive
) -> None:
    fake.office_hours = True
    response = await post(client, with_ids('"lead_ids": [1]'))
    assert response.status_code == 403
    assert response.json() == {"message": OFFICE_HOURS}


# --- 500 for a body that is not a JSON object, after 401 and 403 ------------------------

BAD_BODIES = [
    b"",
    b"{",
    b'{"insert_leads": true, "lead_ids": [1, s]}',
    b'{"lead_ids": [NaN]}',
    b'{"a": "\xff"}',
    b"[]",
    b'"text"',
    b"12",
    b"null",
    b"true",
]


@pytest.mark.parametrize("raw", BAD_BODIES)
async def test_a_body_that_is_not_an_object_is_500_with_what_is_wrong(
    client: httpx.AsyncClient, fake: FakeLeadArchive, raw: bytes
) -> None:
    response = await post(client, raw)
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"message", "lead_errors", "lead_ids"}
    assert (body["lead_errors"], body["lead_ids"]) == (0, [])
    assert body["message"]
    assert "Traceback" not in body["message"]
    assert fake.methods() == ["CheckAccess"]


async def test_the_parse_error_says_where_parsing_stopped(client: httpx.AsyncClient) -> None:
    response = await post(client, b'{\n  "insert_leads": true,\n  "lead_ids": [1, s]\n}')
    assert response.json()["message"] == (
        "request body is not valid JSON: Expecting value: line 3 column 19 (char 44)"
    )


@pytest.mark.parametrize("raw", BAD_BODIES)
async def test_a_bad_key_outranks_a_bad_body(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await post(client, raw, {"Authorization": "Key=wrong"})
    assert response.status_code == 401
    assert response.json() == {"message": UNAUTHENTICATED}


@pytest.mark.parametrize("raw", BAD_BODIES)
async def test_office_hours_outrank_a_bad_body(
    client: httpx.AsyncClient, fake: FakeLeadArchive, raw: bytes
) -> None:
    fake.office_hours = True
    response = await post(client, raw)
    assert response.status_code == 403
    assert response.json() == {"message": OFFICE_HOURS}


# --- 400: flags --------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["insert_leads", "update_leads", "delete_leads"])
@pytest.mark.parametrize("value", [None, "1", '"true"', "null"])
async def test_a_flag_that_is_not_a_boolean_is_400(
    client: httpx.AsyncClient, fake: FakeLeadArchive, flag: str, value: str | None
) -> None:
    fields = {"insert_leads": "true", "update_leads": "false", "delete_leads": "true"}
    if value is None:
        del fields[flag]
    else:
        fields[flag] = value
    flags = ", ".join(f'"{k}": {v}' for k, v in fields.items())
    response = await post(client, with_ids('"lead_ids": [1]', flags))
    assert response.status_code == 400
    assert response.json() == lead_error(f"{flag} must be a boolean value")
    assert fake.methods() == ["CheckAccess", "ArchiveLeads"]  # the key before the body


async def test_the_first_bad_flag_wins(client: httpx.AsyncClient) -> None:
    response = await post(client, '{"update_leads": 1, "delete_leads": "x", "lead_ids": [1]}')
    assert response.json() == lead_error("insert_leads must be a boolean value")


async def test_a_bad_flag_outranks_non_integer_lead_ids(
    client: httpx.AsyncClient, fake: FakeLeadArchive
) -> None:
    body = '{"insert_leads": true, "update_leads": true, "delete_leads": 0, "lead_ids": ["0"]}'
    response = await post(client, body)
    assert response.status_code == 400
    assert response.json() == lead_error("delete_leads must be a boolean value")
    assert fake.methods() == ["CheckAccess", "ArchiveLeads"]  # the key before the body


async def test_a_bad_flag_still_comes_after_the_key(client: httpx.AsyncClient) -> None:
    response = await post(client, '{"lead_ids": ["0"]}', {"Authorization": "Key=wrong"})
    assert (response.status_code, response.json()) == (401, {"message": UNAUTHENTICATED})


# --- 400: lead_ids that are not integers -------------------------------------------------


async def test_the_documented_not_integer_example(
    client: httpx.AsyncClient, fake: FakeLeadArchive
) -> None:
    response = await post(client, with_ids('"lead_ids": ["0"]'))
    assert response.status_code == 400
    assert response.json() == {
        "message": "lead_ids must only contain integer values",
        "lead_errors": 1,
        "lead_ids": ["0"],
    }
    assert fake.methods() == ["CheckAccess"]


async def test_offending_elements_are_echoed_exactly_in_request_order(
    client: httpx.AsyncClient,
) -> None:
    ids = '"lead_ids": [1, "0", 1.0, 2, 1e3, 1.5, true, null, {"a": [2.50]}, [3], -0.0, 1E+2]'
    response = await post(client, with_ids(ids))
    assert response.status_code == 400
    assert response.content == (
        b'{"message":"lead_ids must only contain integer values","lead_errors":10,'
        b'"lead_ids":["0",1.0,1e3,1.5,true,null,{"a":[2.50]},[3],-0.0,1E+2]}'
    )


@pytest.mark.parametrize(
    ("value", "echoed"),
    [('"1,2"', "1,2"), ("7", 7), ('{"id": 1}', {"id": 1}), ("true", True), ("1.0", 1.0)],
)
async def test_lead_ids_that_is_not_an_array_is_one_offending_element(
    client: httpx.AsyncClient, value: str, echoed: Any
) -> None:
    response = await post(client, with_ids(f'"lead_ids": {value}'))
    assert response.status_code == 400
    assert response.json() == lead_error(NOT_INTEGER_MESSAGE, [echoed])


async def test_non_integers_come_after_the_key_and_office_hours(
    client: httpx.AsyncClient, fake: FakeLeadArchive
) -> None:
    bad = with_ids('"lead_ids": ["0"]')
    response = await post(client, bad, {"Authorization": "Key=wrong"})
    assert (response.status_code, response.json()) == (401, {"message": UNAUTHENTICATED})
    fake.office_hours = True
    response = await post(client, bad)
    assert (response.status_code, response.json()) == (403, {"message": OFFICE_HOURS})
    assert "ArchiveLeads" not in fake.methods()


async def test_non_integers_outrank_the_later_lead_id_checks(client: httpx.AsyncClient) -> None:
    ids = ", ".join(["1"] * 600 + ['"x"'])
    response = await post(client, with_ids(f'"lead_ids": [{ids}]'))
    assert response.json() == lead_error(NOT_INTEGER_MESSAGE, ["x"])


# --- 400: the server's lead_ids checks, with integers beyond int64 ----------------------


@pytest.mark.parametrize("ids", ['"lead_ids": []', '"lead_ids": null', '"other": 1'])
async def test_no_lead_ids_is_400(client: httpx.AsyncClient, ids: str) -> None:
    response = await post(client, with_ids(ids))
    assert response.status_code == 400
    assert response.json() == lead_error("lead_ids must contain atleast 1 value")


async def test_more_than_500_lead_ids_is_400(client: httpx.AsyncClient) -> None:
    ids = ", ".join(str(n) for n in range(1, 502))
    response = await post(client, with_ids(f'"lead_ids": [{ids}]'))
    assert response.json() == lead_error("lead_ids cannot exceed 500 values")


async def test_duplicates_of_big_integers_are_reported_as_sent(
    client: httpx.AsyncClient, fake: FakeLeadArchive
) -> None:
    big = 2**70
    response = await post(client, with_ids(f'"lead_ids": [{big}, 1, {big}, 1, {big}]'))
    assert response.status_code == 400
    assert response.json() == lead_error("lead_ids cannot contain duplicate values", [big, 1])
    assert list(fake.archive_call().request.lead_ids) == [-1, 1, -1, 1, -1]


async def test_integers_no_lead_can_have_do_not_exist_in_request_order(
    client: httpx.AsyncClient,
) -> None:
    huge = "9" * 5000
    ids = f"1, {2**64}, -5, {2**63}, 4294967296, 2, {-(2**63) - 1}, {huge}, 0"
    response = await post(client, with_ids(f'"lead_ids": [{ids}]'))
    assert response.status_code == 400
    assert response.content == (
        b'{"message":"lead_ids does not exist","lead_errors":7,"lead_ids":['
        + f"{2**64},-5,{2**63},4294967296,{-(2**63) - 1},{huge},0".encode()
        + b"]}"
    )


async def test_a_sentinel_never_collides_with_a_negative_id_sent(
    client: httpx.AsyncClient, fake: FakeLeadArchive
) -> None:
    response = await post(client, with_ids(f'"lead_ids": [-1, {2**64}, -2]'))
    assert response.json() == lead_error("lead_ids does not exist", [-1, 2**64, -2])
    assert list(fake.archive_call().request.lead_ids) == [-1, -3, -2]


# --- every gRPC code, statuses without details, failures ---------------------------------


@pytest.mark.parametrize(
    "code", [c for c in grpc.StatusCode if c != grpc.StatusCode.OK], ids=lambda c: c.name
)
async def test_every_grpc_code_becomes_its_documented_status(
    client: httpx.AsyncClient, fake: FakeLeadArchive, code: grpc.StatusCode
) -> None:
    fake.archive_reply = Failure(code, "scripted failure", [3, -1])
    response = await post(client, with_ids(f'"lead_ids": [3, {2**64}]'))
    expected = {
        grpc.StatusCode.INVALID_ARGUMENT: 400,
        grpc.StatusCode.UNAUTHENTICATED: 401,
        grpc.StatusCode.PERMISSION_DENIED: 403,
    }.get(code, 500)
    assert response.status_code == expected
    if expected in (401, 403):
        assert response.json() == {"message": "scripted failure"}
    else:
        assert response.json() == lead_error("scripted failure", [3, 2**64])


async def test_a_status_without_detail_keeps_its_wording_out_of_the_body(
    client: httpx.AsyncClient, fake: FakeLeadArchive
) -> None:
    fake.archive_reply = Failure(grpc.StatusCode.INTERNAL, "plain failure", detail=False)
    response = await post(client, with_ids('"lead_ids": [1]'))
    assert response.status_code == 500
    assert response.json() == lead_error(messages.UPSTREAM_FAILED)


async def test_an_unhandled_server_exception_does_not_leak_its_text(
    client: httpx.AsyncClient, fake: FakeLeadArchive
) -> None:
    fake.archive_reply = Raise("SELECT secret FROM vicidial_list")
    response = await post(client, with_ids('"lead_ids": [1]'))
    assert response.status_code == 500
    assert response.json() == lead_error(messages.UPSTREAM_FAILED)


async def test_an_unreachable_upstream_is_500_json(closed_port: int) -> None:
    async for client in shim_client(f"127.0.0.1:{closed_port}"):
        for body in (with_ids('"lead_ids": [1]'), "not json", with_ids('"lead_ids": ["0"]')):
            response = await post(client, body)
            assert response.status_code == 500
            assert response.json() == lead_error(message(Reason.SERVICE_UNAVAILABLE))


class _BrokenChannel:
    """A channel whose calls fail with something that is not a gRPC status."""

    closed = False

    def unary_unary(self, *args: Any, **kwargs: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret detail")

        return call

    async def close(self, grace: float | None = None) -> None:
        self.closed = True


async def test_an_unexpected_exception_is_a_generic_500_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = _BrokenChannel()
    targets: list[str] = []

    def factory(target: str) -> Any:
        targets.append(target)
        return channel

    with caplog.at_level(logging.ERROR, logger="rest_shim"):
        async for client in shim_client("upstream.test:1", channel_factory=factory):
            response = await post(client, with_ids('"lead_ids": [1]'))
            assert response.status_code == 500
            assert response.json() == lead_error(messages.UNEXPECTED)
            assert "secret" not in response.text
    assert targets == ["upstream.test:1"]
    assert channel.closed
    assert "secret detail" in caplog.text


# --- what else the endpoint answers ------------------------------------------------------


async def test_other_methods_are_not_allowed(client: httpx.AsyncClient) -> None:
    assert (await client.get(PATH)).status_code == 405


async def test_docs_show_the_documented_examples(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    operation = (await client.get("/openapi.json")).json()["paths"][PATH]["post"]
    request = operation["requestBody"]["content"]["application/json"]
    assert request["example"] == {
        "insert_leads": True,
        "update_leads": True,
        "delete_leads": True,
        "lead_ids": [0, 1],
    }
    assert request["schema"]["properties"]["lead_ids"]["items"] == {"type": "integer"}
    responses = operation["responses"]
    assert set(responses) == {"200", "400", "401", "403", "500"}

    def examples(status: str) -> list[Any]:
        content = responses[status]["content"]["application/json"]["examples"]
        return [example["value"] for example in content.values()]

    assert examples("200") == [
        {
            "message": SUCCESS,
            "select_count": 1,
            "insert_count": 1,
            "update_count": 0,
            "delete_count": 1,
        }
    ]
    assert examples("401") == [{"message": UNAUTHENTICATED}]
    assert examples("403") == [{"message": OFFICE_HOURS}]
    assert lead_error(NOT_INTEGER_MESSAGE, ["0"]) in examples("400")
    assert lead_error("lead_ids cannot contain duplicate values", [0]) in examples("400")
    assert len(examples("400")) == 8
    assert examples("500")[0]["message"].startswith("Unexpected character encountered")
    assert json.dumps(responses).count("atleast 1 value") == 1
