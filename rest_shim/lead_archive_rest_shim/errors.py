"""Map gRPC outcomes to the documented HTTP statuses, and render every error body.

The API answers only 200, 400, 401, 403 and 500, by the vocabulary's one table from gRPC
code to HTTP status (``HTTP_STATUS``). Every error answer names its reason in the
``x-error-reason`` header; the documented body has no room for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import grpc  # type: ignore[import-untyped, unused-ignore]
from fastapi import Request
from fastapi.responses import Response
from lead_archive_client.errors import status_details
from lead_archive_client.vocabulary import (
    HTTP_STATUS,
    MESSAGE_ONLY_STATUSES,
    PROBLEMS,
    REASON_HEADER,
    Reason,
    http_status,
)

from lead_archive_rest_shim import messages
from lead_archive_rest_shim.translate import JsonValue, render_json


class ApiError(Exception):
    """An answer other than 200, rendered by ``handle_api_error`` with its documented body."""

    def __init__(
        self,
        reason: Reason,
        message: str | None = None,
        lead_ids: Sequence[JsonValue] = (),
        *,
        lead_errors: int | None = None,
        status_code: int | None = None,
    ) -> None:
        """An answer for `reason`: its message and status unless told otherwise."""
        problem = PROBLEMS[reason]
        self.message = problem.message if message is None else message
        super().__init__(self.message)
        self.reason = reason
        self.status_code = http_status(reason) if status_code is None else status_code
        self.lead_ids: list[JsonValue] = list(lead_ids)
        self.lead_errors = len(self.lead_ids) if lead_errors is None else lead_errors

    def body(self) -> dict[str, JsonValue]:
        """The documented body: only ``message`` for 401/403, else with the lead fields."""
        if self.status_code in MESSAGE_ONLY_STATUSES:
            return {"message": self.message}
        return {
            "message": self.message,
            "lead_errors": self.lead_errors,
            "lead_ids": self.lead_ids,
        }


def _without_detail(code: grpc.StatusCode) -> tuple[Reason, str]:
    """The reason and message of a status that carries no detail of the service's.

    Every answer the server writes carries its details; one without them comes from gRPC
    itself (a message over its size limit, a deadline, an unhandled exception whose text may
    hold SQL), and its wording never reaches a REST body.
    """
    if code == grpc.StatusCode.UNAVAILABLE:
        return Reason.SERVICE_UNAVAILABLE, PROBLEMS[Reason.SERVICE_UNAVAILABLE].message
    return Reason.INTERNAL, messages.UPSTREAM_FAILED


def from_grpc_itself(error: grpc.aio.AioRpcError) -> bool:
    """Whether gRPC, not the archive server, ended the call (no LeadErrors detail)."""
    return status_details(error.trailing_metadata()).lead_errors is None


def error_from_rpc(
    error: grpc.aio.AioRpcError,
    restore: Callable[[Iterable[int]], list[JsonValue]] = list,
) -> ApiError:
    """Turn a failed call into its documented answer; restore maps sentinel lead IDs back."""
    code: grpc.StatusCode = error.code()
    found = status_details(error.trailing_metadata())
    # A reason may answer otherwise than its code (a missing scope: the document's 401).
    status = http_status(found.reason) if found.reason else HTTP_STATUS.get(code.name, 500)
    if found.lead_errors is None:
        reason, message = _without_detail(code)
        return ApiError(reason, message, lead_errors=0, status_code=500)
    return ApiError(
        found.reason or Reason.INTERNAL,
        found.lead_errors.message,
        restore(found.lead_errors.lead_ids),
        lead_errors=found.lead_errors.lead_errors,
        status_code=status,
    )


def json_response(body: JsonValue, status_code: int = 200) -> Response:
    """A JSON response whose numbers are written exactly as the client sent them."""
    return Response(render_json(body), status_code=status_code, media_type="application/json")


async def handle_api_error(request: Request, exc: Exception) -> Response:
    """Render an ApiError as its documented JSON body."""
    if not isinstance(exc, ApiError):  # Registered for ApiError only.
        raise exc
    response = json_response(exc.body(), exc.status_code)
    response.headers[REASON_HEADER] = exc.reason.value
    return response
