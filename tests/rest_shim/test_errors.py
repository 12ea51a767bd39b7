"""Failed gRPC calls as documented HTTP answers, and the rendering of error bodies."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import status_pb2
from grpc.aio import AioRpcError, Metadata
from lead_archive_client.errors import status_details
from lead_archive_client.vocabulary import (
    NOT_INTEGER_MESSAGE,
    REASON_HEADER,
    STATUS_DETAILS_KEY,
    Reason,
    message,
)
from lead_archive_rest_shim import messages
from lead_archive_rest_shim.errors import ApiError, error_from_rpc, handle_api_error, json_response
from lead_archive_rest_shim.translate import RawNumber
from vicidial.leads.v1 import lead_archive_pb2 as pb

EXPECTED_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
}


def rpc_error(
    code: grpc.StatusCode, details: str, detail: pb.LeadErrors | None = None
) -> AioRpcError:
    trailing = Metadata()
    if detail is not None:
        packed = any_pb2.Any()
        packed.Pack(detail)
        status = status_pb2.Status(code=code.value[0], message=details, details=[packed])
        trailing = Metadata((STATUS_DETAILS_KEY, status.SerializeToString()))
    return AioRpcError(code, Metadata(), trailing, details=details)


@pytest.mark.parametrize(
    "code", [c for c in grpc.StatusCode if c != grpc.StatusCode.OK], ids=lambda c: c.name
)
def test_a_status_with_a_detail_renders_the_detail(code: grpc.StatusCode) -> None:
    detail = pb.LeadErrors(message="lead_ids does not exist", lead_errors=2, lead_ids=[7, -1])
    error = error_from_rpc(rpc_error(code, "ignored", detail), lambda ids: [*ids, "restored"])
    assert error.status_code == EXPECTED_STATUS.get(code, 500)
    assert error.reason is Reason.INTERNAL  # the detail named no reason
    if error.status_code in (401, 403):
        assert error.body() == {"message": "lead_ids does not exist"}
    else:
        assert error.body() == {
            "message": "lead_ids does not exist",
            "lead_errors": 2,
            "lead_ids": [7, -1, "restored"],
        }


def test_the_servers_count_is_kept() -> None:
    detail = pb.LeadErrors(message="m", lead_errors=0, lead_ids=[])
    error = error_from_rpc(rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "m", detail))
    assert error.body() == {"message": "m", "lead_errors": 0, "lead_ids": []}


@pytest.mark.parametrize(
    ("code", "details", "message"),
    [
        (grpc.StatusCode.INTERNAL, "boom", messages.UPSTREAM_FAILED),
        (grpc.StatusCode.INVALID_ARGUMENT, "bad thing", messages.UPSTREAM_FAILED),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", messages.UPSTREAM_FAILED),
        (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "SERVER: Received message larger than max (1048580 vs. 1048576)",
            messages.UPSTREAM_FAILED,
        ),
        (grpc.StatusCode.UNAVAILABLE, "failed to connect", message(Reason.SERVICE_UNAVAILABLE)),
        (grpc.StatusCode.UNKNOWN, "Unexpected <class 'X'>: SELECT 1", messages.UPSTREAM_FAILED),
        (grpc.StatusCode.INTERNAL, "", messages.UPSTREAM_FAILED),
    ],
)
def test_a_status_without_detail_never_passes_grpc_wording_on(
    code: grpc.StatusCode, details: str, message: str
) -> None:
    error = error_from_rpc(rpc_error(code, details))
    assert error.status_code == 500
    assert error.body() == {"message": message, "lead_errors": 0, "lead_ids": []}


def test_unauthenticated_without_detail_is_not_the_servers_401() -> None:
    error = error_from_rpc(rpc_error(grpc.StatusCode.UNAUTHENTICATED, "no key"))
    assert (error.status_code, error.body()["message"]) == (500, messages.UPSTREAM_FAILED)


def test_a_garbled_status_is_treated_as_no_detail() -> None:
    assert status_details([(STATUS_DETAILS_KEY, b"\xff\xff\xff")]).lead_errors is None
    assert status_details([(STATUS_DETAILS_KEY, "text")]).lead_errors is None
    assert status_details(None).lead_errors is None
    other = any_pb2.Any()
    other.Pack(status_pb2.Status(code=1))
    status = status_pb2.Status(code=3, details=[other])
    found = status_details([(STATUS_DETAILS_KEY, status.SerializeToString())])
    assert (found.lead_errors, found.reason) == (None, None)


def test_api_error_counts_its_lead_ids_by_default() -> None:
    error = ApiError(Reason.LEAD_IDS_NOT_INTEGERS, lead_ids=["0", RawNumber("1e3")])
    assert error.status_code == 400
    assert error.body() == {
        "message": NOT_INTEGER_MESSAGE,
        "lead_errors": 2,
        "lead_ids": ["0", RawNumber("1e3")],
    }


def test_json_response_writes_raw_numbers() -> None:
    response = json_response({"lead_ids": [RawNumber("1e3"), RawNumber("1.0")]}, 400)
    assert response.status_code == 400
    assert response.media_type == "application/json"
    assert response.body == b'{"lead_ids":[1e3,1.0]}'
    assert json.loads(bytes(response.body)) == {"lead_ids": [1000.0, 1.0]}


async def test_every_error_answer_names_its_reason() -> None:
    response = await handle_api_error(None, ApiError(Reason.LEAD_IDS_DO_NOT_EXIST, lead_ids=[1]))  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.headers[REASON_HEADER] == "LEAD_IDS_DO_NOT_EXIST"
