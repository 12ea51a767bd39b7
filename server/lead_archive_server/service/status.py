"""The google.rpc.Status every failed call ends with: code, message, ErrorInfo and LeadErrors."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from lead_archive_client.vocabulary import ERROR_DOMAIN, PROBLEMS
from vicidial.leads.v1 import lead_archive_pb2 as pb

from lead_archive_server.core.errors import ArchiveError


def grpc_code(error: ArchiveError) -> grpc.StatusCode:
    """The gRPC code the vocabulary gives the error's reason."""
    return grpc.StatusCode[PROBLEMS[error.reason].code]


def rich_status(error: ArchiveError) -> grpc.Status:
    """The status for an error: the reason (AIP-193 ErrorInfo) and the documented detail."""
    reason, detail = any_pb2.Any(), any_pb2.Any()
    reason.Pack(
        error_details_pb2.ErrorInfo(
            reason=error.reason.value, domain=ERROR_DOMAIN, metadata=dict(error.info)
        )
    )
    detail.Pack(
        pb.LeadErrors(message=error.message, lead_errors=error.lead_errors, lead_ids=error.lead_ids)
    )
    # LeadErrors stays first, where callers written before the reason was added look.
    status = status_pb2.Status(
        code=grpc_code(error).value[0], message=error.message, details=[detail, reason]
    )
    return rpc_status.to_status(status)  # type: ignore[no-any-return]


async def abort(context: grpc.aio.ServicerContext[object, object], error: ArchiveError) -> None:
    """End the call with the error's status, keeping trailing metadata set already."""
    status = rich_status(error)
    trailing = (*(context.trailing_metadata() or ()), *status.trailing_metadata)
    await context.abort(status.code, status.details, trailing)
