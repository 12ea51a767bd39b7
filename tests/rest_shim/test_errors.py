"""The gRPC code -> HTTP status table and the rendering of error bodies."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import status_pb2
from grpc.aio import AioRpcError, Metadata
from lead_archive_client.errors import STATUS_DETAILS_KEY, lead_errors_detail
from lead_archive_rest_shim import messages
from lead_archive_rest_shim.errors import (
    HTTP_STATUS,
    ApiError,
    error_from_rpc,
    http_status,
    json_response,
)
from lead_archive_rest_shim.translate import RawNumber
from vicidial.leads.v1 import lead_archive_pb2 as pb

DOCUMENTED = {200, 400, 401, 403, 500}

EXPECTED_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
}


def test_every_grpc_code_is_in_the_table() -> None:
    missing = set(grpc.StatusCode) - set(HTTP_STATUS)
    assert not missing, f"unmapped gRPC codes: {sorted(code.name for code in missing)}"


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda code: code.name)
def test_every_grpc_code_maps_to_a_documented_status(code: grpc.StatusCode) -> None:
    assert http_status(code) == EXPECTED_STATUS.get(code, 500)
    assert http_status(code) in DOCUMENTED


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
        (grpc.StatusCode.UNAVAILABLE, "failed to connect", messages.UPSTREAM_UNAVAILABLE),
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
    assert lead_errors_detail([(STATUS_DETAILS_KEY, b"\xff\xff\xff")]) is None
    assert lead_errors_detail([(STATUS_DETAILS_KEY, "text")]) is None
    assert lead_errors_detail(None) is None
    other = any_pb2.Any()
    other.Pack(status_pb2.Status(code=1))
    status = status_pb2.Status(code=3, details=[other])
    assert lead_errors_detail([(STATUS_DETAILS_KEY, status.SerializeToString())]) is None


def test_api_error_counts_its_lead_ids_by_default() -> None:
    error = ApiError(400, messages.NOT_INTEGER, ["0", RawNumber("1e3")])
    assert error.body() == {
        "message": messages.NOT_INTEGER,
        "lead_errors": 2,
        "lead_ids": ["0", RawNumber("1e3")],
    }


def test_json_response_writes_raw_numbers() -> None:
    response = json_response({"lead_ids": [RawNumber("1e3"), RawNumber("1.0")]}, 400)
    assert response.status_code == 400
    assert response.media_type == "application/json"
    assert response.body == b'{"lead_ids":[1e3,1.0]}'
    assert json.loads(bytes(response.body)) == {"lead_ids": [1000.0, 1.0]}
