"""Everything the clients raise, and the one boundary where wire failures become it.

::

    LeadArchiveError                      base; message, lead_errors, lead_ids, status
    ├── Unauthenticated    401  UNAUTHENTICATED     key missing, malformed, unknown, revoked
    │   │                                           or expired
    │   └── ScopeMissing   401  PERMISSION_DENIED   a live key without the call's scope (.scope)
    ├── OfficeHours        403  PERMISSION_DENIED   the API refuses to run in office hours
    ├── InvalidLeads       400  INVALID_ARGUMENT    the batch breaks a documented rule
    │   └── UnknownLeads   400  "lead_ids does not exist": lead_ids are not in vicidial_list
    └── ServerError        500  every other code
        ├── Unavailable    UNAVAILABLE, or the connection failed or dropped: retried
        └── Timeout        DEADLINE_EXCEEDED, or no HTTP answer in time: never retried

An answer of the service names its reason (``google.rpc.ErrorInfo`` over gRPC, the
``x-error-reason`` header over REST): ``REASON_ERRORS`` maps every reason to its class, and
``reason`` on the error keeps it. What carries no reason (a status the channel made, a proxy's
page) is classed by ``GRPC_ERRORS`` (every gRPC code) or ``HTTP_ERRORS`` (every documented
status). ``error_from_grpc``, ``error_from_http`` and ``error_from_transport`` are the only
places a gRPC status, an HTTP answer or an httpx exception turns into one of these.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from vicidial.leads.v1 import lead_archive_pb2 as pb

from lead_archive_client.vocabulary import (
    ERROR_DOMAIN,
    SCOPE_METADATA_KEY,
    STATUS_DETAILS_KEY,
    Reason,
)

if TYPE_CHECKING:  # httpx is imported by the REST clients, which only REST callers load
    import httpx

Metadata = Iterable[tuple[str, str | bytes]]


class LeadArchiveError(Exception):
    """An archive call failed; ``message`` is the server's (the API document's) wording.

    ``lead_errors`` and ``lead_ids`` are the documented error body's fields: how many lead IDs
    are at fault and which, as the server reported them (integers, except the REST answer to
    values that are not integers, which a client of this package never sends). ``status`` is
    the HTTP status the API answers with for this error; ``grpc_code`` is the gRPC status code
    when the call went over gRPC, else None. ``reason`` is the service's machine-readable
    reason (branch on it, never on the message), or None when the failure did not come from
    the service itself.
    """

    status: int = 500

    def __init__(
        self,
        message: str,
        *,
        lead_errors: int = 0,
        lead_ids: Sequence[object] = (),
        grpc_code: grpc.StatusCode | None = None,
        reason: Reason | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.lead_errors = lead_errors
        self.lead_ids: tuple[object, ...] = tuple(lead_ids)
        self.grpc_code = grpc_code
        self.reason = reason


class Unauthenticated(LeadArchiveError):
    """The API key is missing, malformed, unknown, revoked or expired (401, UNAUTHENTICATED)."""

    status = 401


class ScopeMissing(Unauthenticated):
    """The key is valid but may not do this: it lacks ``scope`` ("archive" or "restore").

    gRPC answers PERMISSION_DENIED (reason KEY_SCOPE_MISSING, the scope in the ErrorInfo's
    metadata); REST answers the API document's 401, ``unable to validate api user``, with
    ``x-error-reason: KEY_SCOPE_MISSING``. Nothing was read or changed. A key's scopes are
    set when it is made (``lead-archive keys create --scope ...``).
    """

    def __init__(self, message: str, *, scope: str = "", **details: Any) -> None:
        super().__init__(message, **details)
        self.scope = scope


class OfficeHours(LeadArchiveError):
    """The API refuses to run during office hours (403, PERMISSION_DENIED); try again later."""

    status = 403


class InvalidLeads(LeadArchiveError):
    """The batch breaks one of the documented rules (400, INVALID_ARGUMENT); fix the request."""

    status = 400


class UnknownLeads(InvalidLeads):
    """Some lead IDs are not in vicidial_list (``lead_ids`` lists them); nothing was changed.

    A lead archived by an earlier call is no longer in vicidial_list, so resending a batch
    that was archived before ends here: drop ``lead_ids`` and send the rest. For
    ``restore()`` the lead IDs are not in vicidial_list_archive (restored already, or never
    archived).
    """

    lead_ids: tuple[int, ...]


class ServerError(LeadArchiveError):
    """The server failed (500): the batch may be partly done, never with a lead lost."""


class Unavailable(ServerError):
    """The service or its database could not be reached, even after retrying until the deadline.

    Also what a dropped connection becomes. Resending the batch later is safe.
    """


class Timeout(ServerError):
    """No answer within the timeout. Not retried: the batch may still be running or be done."""


REASON_ERRORS: Final[Mapping[Reason, type[LeadArchiveError]]] = MappingProxyType(
    {
        Reason.API_KEY_INVALID: Unauthenticated,
        Reason.OFFICE_HOURS: OfficeHours,
        Reason.INSERT_LEADS_NOT_BOOLEAN: InvalidLeads,
        Reason.UPDATE_LEADS_NOT_BOOLEAN: InvalidLeads,
        Reason.DELETE_LEADS_NOT_BOOLEAN: InvalidLeads,
        Reason.LEAD_IDS_NOT_INTEGERS: InvalidLeads,
        Reason.LEAD_IDS_EMPTY: InvalidLeads,
        Reason.LEAD_IDS_TOO_MANY: InvalidLeads,
        Reason.LEAD_IDS_DUPLICATED: InvalidLeads,
        Reason.LEAD_IDS_DO_NOT_EXIST: UnknownLeads,
        Reason.INTERNAL: ServerError,
        Reason.DATABASE_UNAVAILABLE: Unavailable,
        Reason.LOCK_CONFLICT: ServerError,
        Reason.SCHEMA_DRIFT: ServerError,
        Reason.TABLE_NEEDS_REPAIR: ServerError,
        Reason.CALL_TIME_MISSING: ServerError,
        Reason.SHUTTING_DOWN: Unavailable,
        Reason.REQUEST_BODY_INVALID: ServerError,
        Reason.SERVICE_UNAVAILABLE: Unavailable,
        Reason.REQUEST_MALFORMED: InvalidLeads,
        Reason.KEY_SCOPE_MISSING: ScopeMissing,
    }
)
"""The class of every reason the service names."""


def _reason(text: str | None) -> Reason | None:
    """The reason a text names, or None for a text that names none."""
    try:
        return Reason(text) if text else None
    except ValueError:
        return None


# --- gRPC -----------------------------------------------------------------------------------

GRPC_ERRORS: Final[Mapping[grpc.StatusCode, type[LeadArchiveError]]] = MappingProxyType(
    {
        grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
        grpc.StatusCode.PERMISSION_DENIED: OfficeHours,
        grpc.StatusCode.INVALID_ARGUMENT: InvalidLeads,
        grpc.StatusCode.UNAVAILABLE: Unavailable,
        grpc.StatusCode.DEADLINE_EXCEEDED: Timeout,
        # Everything else is one of the API document's "any other errors" (500).
        grpc.StatusCode.CANCELLED: ServerError,
        grpc.StatusCode.UNKNOWN: ServerError,
        grpc.StatusCode.NOT_FOUND: ServerError,
        grpc.StatusCode.ALREADY_EXISTS: ServerError,
        grpc.StatusCode.RESOURCE_EXHAUSTED: ServerError,
        grpc.StatusCode.FAILED_PRECONDITION: ServerError,
        grpc.StatusCode.ABORTED: ServerError,
        grpc.StatusCode.OUT_OF_RANGE: ServerError,
        grpc.StatusCode.UNIMPLEMENTED: ServerError,
        grpc.StatusCode.INTERNAL: ServerError,
        grpc.StatusCode.DATA_LOSS: ServerError,
    }
)


def error_from_rpc(error: grpc.RpcError, *, target: str) -> LeadArchiveError:
    """Turn a failed gRPC call (sync or asyncio) into its typed error."""
    if isinstance(error, grpc.aio.AioRpcError):
        return error_from_grpc(
            error.code(), error.details(), error.trailing_metadata(), target=target
        )
    if isinstance(error, grpc.Call):
        return error_from_grpc(
            error.code(), error.details(), error.trailing_metadata(), target=target
        )
    return ServerError(f"gRPC call to {target} failed: {error}")


def error_from_grpc(
    code: grpc.StatusCode,
    details: str | None,
    trailing_metadata: Metadata | None,
    *,
    target: str,
) -> LeadArchiveError:
    """Turn a gRPC status and its details (reason, LeadErrors) into the typed error."""
    found = status_details(trailing_metadata)
    if found.lead_errors is None:
        # A status the channel made itself (no server detail): say where and what.
        message = f"{code.name} from {target}: {details or 'no details'}"
        return GRPC_ERRORS[code](message, grpc_code=code)
    kind = REASON_ERRORS[found.reason] if found.reason else GRPC_ERRORS[code]
    return _made(
        kind,
        found.lead_errors.message,
        found.info.get(SCOPE_METADATA_KEY, ""),
        lead_errors=found.lead_errors.lead_errors,
        lead_ids=tuple(found.lead_errors.lead_ids),
        grpc_code=code,
        reason=found.reason,
    )


def _made(
    kind: type[LeadArchiveError], message: str, scope: str, **details: Any
) -> LeadArchiveError:
    """The error of that kind; a ScopeMissing also names the scope the call needed."""
    if issubclass(kind, ScopeMissing):
        return kind(message, scope=scope, **details)
    return kind(message, **details)


class StatusDetails:
    """The details a google.rpc.Status carries: the reason (with its ErrorInfo metadata)
    and the LeadErrors detail."""

    def __init__(self) -> None:
        self.reason: Reason | None = None
        self.info: dict[str, str] = {}
        self.lead_errors: pb.LeadErrors | None = None


def status_details(trailing_metadata: Metadata | None) -> StatusDetails:
    """The reason (of this API's domain) and LeadErrors packed into a status, where present."""
    found = StatusDetails()
    for key, value in trailing_metadata or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except DecodeError:
            return found
        for packed in status.details:
            info, detail = error_details_pb2.ErrorInfo(), pb.LeadErrors()
            if packed.Unpack(info) and info.domain == ERROR_DOMAIN:
                found.reason = _reason(info.reason)
                found.info = dict(info.metadata)
            elif packed.Unpack(detail):
                found.lead_errors = detail
    return found


# --- HTTP -----------------------------------------------------------------------------------

HTTP_ERRORS: Final[Mapping[int, type[LeadArchiveError]]] = MappingProxyType(
    {
        400: InvalidLeads,
        401: Unauthenticated,
        403: OfficeHours,
        500: ServerError,
    }
)


def error_for_status(status: int) -> type[LeadArchiveError]:
    """The error class for an HTTP status other than 200.

    The API answers only 200, 400, 401, 403 and 500; any other status came from something
    in between (a proxy, a wrong URL) and is a ServerError.
    """
    return HTTP_ERRORS.get(status, ServerError)


def error_from_http(
    status: int,
    body: bytes,
    *,
    url: str,
    reason_header: str | None = None,
    scope: str = "",
) -> LeadArchiveError:
    """Turn an HTTP answer other than 200 into the typed error, using its documented body.

    ``reason_header`` is the answer's ``x-error-reason`` (REASON_HEADER), which the REST shim
    sets on every error it answers; ``scope`` is the scope the request needed (its path's),
    which a ScopeMissing names.
    """
    reason = _reason(reason_header)
    kind = REASON_ERRORS[reason] if reason else error_for_status(status)
    parsed = _json_object(body)
    message = parsed.get("message") if parsed is not None else None
    if status not in HTTP_ERRORS or parsed is None or not isinstance(message, str):
        text = body[:200].decode(errors="replace").strip()
        text = f"HTTP {status} from {url}, not an answer of the Lead Archive API: {text}"
        return _made(kind, text, scope)
    lead_ids = parsed.get("lead_ids")
    lead_errors = parsed.get("lead_errors")
    return _made(
        kind,
        message,
        scope,
        lead_errors=lead_errors if isinstance(lead_errors, int) else 0,
        lead_ids=tuple(lead_ids) if isinstance(lead_ids, list) else (),
        reason=reason,
    )


def error_from_transport(error: httpx.TransportError, *, url: str) -> LeadArchiveError:
    """Turn an httpx failure into Unavailable (retried) or Timeout/ServerError (not retried).

    Unavailable: the request never reached the server, or the connection dropped before the
    answer. A read or write timeout is not: the server may still be working on the batch.
    """
    import httpx  # loaded already: the error came from it

    reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, httpx.ConnectTimeout | httpx.ConnectError | httpx.RemoteProtocolError):
        return Unavailable(f"cannot reach {url}: {reason}")
    if isinstance(error, httpx.ReadError | httpx.WriteError):
        return Unavailable(f"connection to {url} dropped: {reason}")
    if isinstance(error, httpx.TimeoutException):
        return Timeout(f"no answer from {url} in time: {reason}")
    return ServerError(f"request to {url} failed: {reason}")


def _json_object(body: bytes) -> dict[str, object] | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
