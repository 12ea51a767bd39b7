"""Map gRPC outcomes to the documented HTTP statuses, and render every error body.

The API answers only 200, 400, 401, 403 and 500. ``HTTP_STATUS`` is the one table from
gRPC code to HTTP status; it names every code, and a test fails if one is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final

import grpc  # type: ignore[import-untyped, unused-ignore]
from fastapi import Request
from fastapi.responses import Response
from lead_archive_client.errors import lead_errors_detail

from lead_archive_rest_shim import messages
from lead_archive_rest_shim.translate import JsonValue, render_json

# grpc-status-details-bin carries the google.rpc.Status with the LeadErrors detail.

HTTP_STATUS: Final[Mapping[grpc.StatusCode, int]] = MappingProxyType(
    {
        grpc.StatusCode.OK: 200,
        grpc.StatusCode.INVALID_ARGUMENT: 400,
        grpc.StatusCode.UNAUTHENTICATED: 401,
        grpc.StatusCode.PERMISSION_DENIED: 403,
        # Every other code is one of the document's "any other errors".
        grpc.StatusCode.CANCELLED: 500,
        grpc.StatusCode.UNKNOWN: 500,
        grpc.StatusCode.DEADLINE_EXCEEDED: 500,
        grpc.StatusCode.NOT_FOUND: 500,
        grpc.StatusCode.ALREADY_EXISTS: 500,
        grpc.StatusCode.RESOURCE_EXHAUSTED: 500,
        grpc.StatusCode.FAILED_PRECONDITION: 500,
        grpc.StatusCode.ABORTED: 500,
        grpc.StatusCode.OUT_OF_RANGE: 500,
        grpc.StatusCode.UNIMPLEMENTED: 500,
        grpc.StatusCode.INTERNAL: 500,
        grpc.StatusCode.UNAVAILABLE: 500,
        grpc.StatusCode.DATA_LOSS: 500,
    }
)

# The documented 401 and 403 bodies hold only the message.
_MESSAGE_ONLY: Final = frozenset({401, 403})


class ApiError(Exception):
    """An answer other than 200, rendered by ``handle_api_error`` with its documented body."""

    def __init__(
        self,
        status_code: int,
        message: str,
        lead_ids: Sequence[JsonValue] = (),
        *,
        lead_errors: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.lead_ids: list[JsonValue] = list(lead_ids)
        self.lead_errors = len(self.lead_ids) if lead_errors is None else lead_errors

    def body(self) -> dict[str, JsonValue]:
        """The documented body: only ``message`` for 401/403, else with the lead fields."""
        if self.status_code in _MESSAGE_ONLY:
            return {"message": self.message}
        return {
            "message": self.message,
            "lead_errors": self.lead_errors,
            "lead_ids": self.lead_ids,
        }


def http_status(code: grpc.StatusCode) -> int:
    """The HTTP status for a gRPC code."""
    return HTTP_STATUS[code]


def _message_without_detail(code: grpc.StatusCode) -> str:
    """Every answer the server writes carries a LeadErrors detail; one without it comes from
    gRPC itself (a message over its size limit, a deadline, an unhandled exception whose
    text may hold SQL), and its wording never reaches a REST body."""
    if code == grpc.StatusCode.UNAVAILABLE:
        return messages.UPSTREAM_UNAVAILABLE
    return messages.UPSTREAM_FAILED


def from_grpc_itself(error: grpc.aio.AioRpcError) -> bool:
    """Whether gRPC, not the archive server, ended the call (no LeadErrors detail)."""
    return lead_errors_detail(error.trailing_metadata()) is None


def error_from_rpc(
    error: grpc.aio.AioRpcError,
    restore: Callable[[Iterable[int]], list[JsonValue]] = list,
) -> ApiError:
    """Turn a failed call into its documented answer; restore maps sentinel lead IDs back."""
    code: grpc.StatusCode = error.code()
    status = HTTP_STATUS.get(code, 500)
    detail = lead_errors_detail(error.trailing_metadata())
    if detail is None:
        return ApiError(500, _message_without_detail(code), lead_errors=0)
    return ApiError(
        status,
        detail.message,
        restore(detail.lead_ids),
        lead_errors=detail.lead_errors,
    )


def json_response(body: JsonValue, status_code: int = 200) -> Response:
    """A JSON response whose numbers are written exactly as the client sent them."""
    return Response(render_json(body), status_code=status_code, media_type="application/json")


async def handle_api_error(request: Request, exc: Exception) -> Response:
    """Render an ApiError as its documented JSON body."""
    if not isinstance(exc, ApiError):  # Registered for ApiError only.
        raise exc
    return json_response(exc.body(), exc.status_code)
