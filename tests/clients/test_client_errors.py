"""The one boundary where gRPC statuses, HTTP answers and httpx failures become typed errors.

The typed API cannot send every wrong request the contract describes (a flag left unset, a
string lead ID, a body that is not JSON); those answers are taken here from the real server
and shim with raw calls, and passed through the same boundary the clients use.
"""

from __future__ import annotations

import http

import grpc
import httpx
import pytest
from lead_archive_client import (
    InvalidLeads,
    LeadArchiveError,
    OfficeHours,
    ServerError,
    Timeout,
    Unauthenticated,
    Unavailable,
    UnknownLeads,
)
from lead_archive_client.errors import (
    GRPC_ERRORS,
    REASON_ERRORS,
    error_for_status,
    error_from_grpc,
    error_from_http,
    error_from_rpc,
    error_from_transport,
)
from lead_archive_client.vocabulary import PROBLEMS, REASON_HEADER, Reason, http_status
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.support_stack import Stack

# --- The tables ---------------------------------------------------------------------------------


def test_every_grpc_code_but_ok_is_mapped() -> None:
    assert set(GRPC_ERRORS) == set(grpc.StatusCode) - {grpc.StatusCode.OK}


@pytest.mark.parametrize("code", sorted(set(grpc.StatusCode) - {grpc.StatusCode.OK}, key=str))
def test_each_grpc_code_becomes_its_documented_class(code: grpc.StatusCode) -> None:
    expected = {
        grpc.StatusCode.UNAUTHENTICATED: (Unauthenticated, 401),
        grpc.StatusCode.PERMISSION_DENIED: (OfficeHours, 403),
        grpc.StatusCode.INVALID_ARGUMENT: (InvalidLeads, 400),
        grpc.StatusCode.UNAVAILABLE: (Unavailable, 500),
        grpc.StatusCode.DEADLINE_EXCEEDED: (Timeout, 500),
    }.get(code, (ServerError, 500))
    error = error_from_grpc(code, "channel said so", None, target="host:1")
    assert (type(error), error.status) == expected
    assert error.grpc_code == code
    assert error.message == f"{code.name} from host:1: channel said so"


@pytest.mark.parametrize("status", [s for s in http.HTTPStatus if s >= 300], ids=str)
def test_every_http_status_but_200_becomes_an_error(status: http.HTTPStatus) -> None:
    documented = {400: InvalidLeads, 401: Unauthenticated, 403: OfficeHours, 500: ServerError}
    assert error_for_status(status) is documented.get(status, ServerError)
    error = error_from_http(status, b"<html>proxy error</html>", url="http://x/y")
    assert isinstance(error, documented.get(status, ServerError))
    if status not in documented:
        assert error.message.startswith(f"HTTP {int(status)} from http://x/y")


def test_documented_http_body_is_carried() -> None:
    body = b'{"message": "lead_ids does not exist", "lead_errors": 2, "lead_ids": [7, 9]}'
    error = error_from_http(400, body, url="u", reason_header="LEAD_IDS_DO_NOT_EXIST")
    assert type(error) is UnknownLeads
    assert error.reason is Reason.LEAD_IDS_DO_NOT_EXIST
    assert (error.message, error.lead_errors, error.lead_ids) == (
        "lead_ids does not exist",
        2,
        (7, 9),
    )


def test_the_reason_classifies_never_the_message_text() -> None:
    body = b'{"message": "lead_ids does not exist", "lead_errors": 1, "lead_ids": [7]}'
    assert type(error_from_http(400, body, url="u")) is InvalidLeads
    assert type(error_from_http(400, body, url="u", reason_header="NOT_A_REASON")) is InvalidLeads
    other = b'{"message": "anything at all", "lead_errors": 1, "lead_ids": [7]}'
    error = error_from_http(400, other, url="u", reason_header="LEAD_IDS_DO_NOT_EXIST")
    assert type(error) is UnknownLeads


def test_every_reason_has_a_class_and_a_problem() -> None:
    assert set(REASON_ERRORS) == set(Reason) == set(PROBLEMS)
    for reason, kind in REASON_ERRORS.items():
        # The class agrees with the status the vocabulary gives the reason.
        assert kind.status == http_status(reason) or kind is Unavailable


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (httpx.ConnectError("refused"), Unavailable),
        (httpx.ConnectTimeout("slow"), Unavailable),
        (httpx.RemoteProtocolError("closed without answer"), Unavailable),
        (httpx.ReadError("reset"), Unavailable),
        (httpx.WriteError("broken pipe"), Unavailable),
        (httpx.ReadTimeout("slow"), Timeout),
        (httpx.WriteTimeout("slow"), Timeout),
        (httpx.PoolTimeout("busy"), Timeout),
        (httpx.LocalProtocolError("bad header"), ServerError),
        (httpx.UnsupportedProtocol("ftp"), ServerError),
        (httpx.ProxyError("proxy"), ServerError),
        (httpx.CloseError("close"), ServerError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "",
)
def test_httpx_failures(failure: httpx.TransportError, kind: type[LeadArchiveError]) -> None:
    assert type(error_from_transport(failure, url="http://x")) is kind


def test_every_httpx_transport_error_is_handled() -> None:
    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        return found.union(*(subclasses(c) for c in found))

    for cls in subclasses(httpx.TransportError):
        error = error_from_transport(cls("x"), url="u")
        assert isinstance(error, ServerError), cls


# --- The server's real answers to what the typed API cannot send ---------------------------------


async def raw_grpc_error(stack: Stack, **fields) -> LeadArchiveError:
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.LeadArchiveServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ArchiveLeads(
                pb.ArchiveLeadsRequest(**fields), metadata=[("authorization", f"Key={stack.key}")]
            )
    return error_from_rpc(raised.value, target=stack.grpc_target)


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        ("insert_leads", "insert_leads must be a boolean value"),
        ("update_leads", "update_leads must be a boolean value"),
        ("delete_leads", "delete_leads must be a boolean value"),
    ],
)
async def test_unset_flags_over_grpc(stack1: Stack, unset: str, message: str) -> None:
    ids = await stack1.tdb.seed(1)
    flags = {"insert_leads": True, "update_leads": True, "delete_leads": True}
    del flags[unset]
    error = await raw_grpc_error(stack1, lead_ids=ids, **flags)
    assert type(error) is InvalidLeads
    assert (error.message, error.lead_errors, error.lead_ids) == (message, 0, ())
    assert error.grpc_code == grpc.StatusCode.INVALID_ARGUMENT


async def raw_http_error(stack: Stack, content: bytes) -> LeadArchiveError:
    url = f"{stack.rest_url}/vicidial/leads/archive"
    async with httpx.AsyncClient() as http_client:
        response = await http_client.post(
            url, content=content, headers={"Authorization": f"Key={stack.key}"}
        )
    return error_from_http(
        response.status_code,
        response.content,
        url=url,
        reason_header=response.headers.get(REASON_HEADER),
    )


@pytest.mark.parametrize(
    ("body", "kind", "message", "lead_ids"),
    [
        (
            b'{"insert_leads": "true", "update_leads": true, "delete_leads": true, '
            b'"lead_ids": [1]}',
            InvalidLeads,
            "insert_leads must be a boolean value",
            (),
        ),
        (
            b'{"insert_leads": true, "update_leads": 1, "delete_leads": true, "lead_ids": [1]}',
            InvalidLeads,
            "update_leads must be a boolean value",
            (),
        ),
        (
            b'{"insert_leads": true, "update_leads": true, "delete_leads": null, "lead_ids": [1]}',
            InvalidLeads,
            "delete_leads must be a boolean value",
            (),
        ),
        (
            b'{"insert_leads": true, "update_leads": true, "delete_leads": true, '
            b'"lead_ids": ["0", 2, 1.5]}',
            InvalidLeads,
            "lead_ids must only contain integer values",
            ("0", 1.5),
        ),
    ],
)
async def test_field_errors_over_rest(
    stack1: Stack, body: bytes, kind: type, message: str, lead_ids: tuple
) -> None:
    error = await raw_http_error(stack1, body)
    assert type(error) is kind
    assert (error.message, error.lead_errors, error.lead_ids) == (
        message,
        len(lead_ids),
        lead_ids,
    )
    assert error.grpc_code is None


@pytest.mark.parametrize("body", [b'{"insert_leads": tru', b"[1, 2]"])
async def test_body_that_is_not_a_json_object_is_a_server_error(stack1: Stack, body: bytes) -> None:
    error = await raw_http_error(stack1, body)
    assert type(error) is ServerError
    assert error.message.startswith("request body ")
    assert (error.lead_errors, error.lead_ids) == (0, ())
