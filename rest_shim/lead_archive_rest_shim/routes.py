"""The documented endpoint, ``POST /vicidial/leads/archive``, and the way back,
``POST /vicidial/leads/restore`` (CONTRACT 8).

Processing order is the contract's: key, office hours, body, field checks. The server
checks key and office hours, so a failure only the shim can see (a body that is not a JSON
object, a lead ID that is not an integer) is reported only after ``CheckAccess`` passed.
A restore has no office-hours check: its ``CheckAccess`` asks about the key only.

The key is checked before the body is read (CONTRACT 11): unless the server accepted it
lately (``known_keys``), ``CheckAccess`` comes first and a refused caller's body is never
read or parsed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

import grpc  # type: ignore[import-untyped, unused-ignore]
from fastapi import APIRouter, Request
from fastapi.responses import Response
from lead_archive_client.vocabulary import (
    ARCHIVE_PATH,
    MAX_LEADS_PER_BATCH,
    MAX_REQUEST_BYTES,
    RESTORE_PATH,
    Reason,
    Scope,
)
from starlette.requests import ClientDisconnect
from vicidial.leads.v1 import lead_archive_pb2

from lead_archive_rest_shim import messages, openapi, translate
from lead_archive_rest_shim.errors import (
    ApiError,
    error_from_rpc,
    from_grpc_itself,
    json_response,
)
from lead_archive_rest_shim.known_keys import KnownKeys

if TYPE_CHECKING:
    from vicidial.leads.v1.lead_archive_pb2_grpc import LeadArchiveServiceAsyncStub

log = logging.getLogger(__name__)

# A bigger body is refused before it is parsed.
MAX_BODY_BYTES = MAX_REQUEST_BYTES
Metadata = tuple[tuple[str, str], ...]

router = APIRouter()


def _stub(request: Request) -> LeadArchiveServiceAsyncStub:
    return cast("LeadArchiveServiceAsyncStub", request.app.state.stub)


def _known_keys(request: Request) -> KnownKeys:
    return cast(KnownKeys, request.app.state.known_keys)


async def _check_access(
    stub: LeadArchiveServiceAsyncStub, metadata: Metadata, scope: Scope, *, key_only: bool = False
) -> None:
    """Raise the server's 401 or 403 (or 500) unless the key is valid, carries the scope and
    the office hours allow (with key_only, unless the key is valid and carries the scope)."""
    try:
        request = lead_archive_pb2.CheckAccessRequest(key_only=key_only, scope=scope)
        await stub.CheckAccess(request, metadata=metadata)
    except grpc.aio.AioRpcError as error:
        raise error_from_rpc(error) from None


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is over MAX_BODY_BYTES (never buffered beyond that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
    except ClientDisconnect:  # gone, or cut off by the request deadline (which answered 408)
        raise ApiError(
            Reason.REQUEST_BODY_INVALID, messages.BODY_NOT_RECEIVED, status_code=408
        ) from None
    return b"".join(chunks)


async def _key_first(
    request: Request,
    stub: LeadArchiveServiceAsyncStub,
    metadata: Metadata,
    scope: Scope,
    *,
    key_only: bool,
) -> bool:
    """Ask the server about a key it has not accepted lately, before the body is read;
    True when it was asked (and said yes)."""
    known = _known_keys(request)
    if known.known(metadata):
        return False
    await _check_access(stub, metadata, scope, key_only=key_only)
    known.accepted(metadata)
    return True


async def _json_body(
    request: Request,
    stub: LeadArchiveServiceAsyncStub,
    metadata: Metadata,
    scope: Scope,
    *,
    key_only: bool,
) -> tuple[dict[str, translate.JsonValue], bool]:
    """The body as a JSON object, or the 500 that says why not (after the access check);
    with whether access was checked for this request already."""
    checked = await _key_first(request, stub, metadata, scope, key_only=key_only)
    raw = await _read_body(request)
    try:
        if raw is None:
            limit = MAX_BODY_BYTES
            raise translate.BodyError(messages.BODY_TOO_LARGE.format(limit=limit))
        return translate.parse_body(raw), checked
    except translate.BodyError as exc:
        if not checked:  # 401 and 403 still come first for a key known from earlier
            await _check_access(stub, metadata, scope, key_only=key_only)
        raise ApiError(Reason.REQUEST_BODY_INVALID, exc.message) from None


def _heard(request: Request, metadata: Metadata, error: grpc.aio.AioRpcError | None) -> None:
    """Keep the known keys in step with what the server said of this one."""
    if error is None:
        _known_keys(request).accepted(metadata)
    elif error.code() == grpc.StatusCode.UNAUTHENTICATED:
        _known_keys(request).refused(metadata)


async def _archive(request: Request) -> Response:
    stub = _stub(request)
    metadata = translate.auth_metadata(request.headers.get("authorization"))
    body, checked = await _json_body(request, stub, metadata, Scope.ARCHIVE, key_only=False)
    plan = translate.plan_archive(body)
    # An invalid flag outranks a non-integer lead ID: the server reports the flag, since
    # it was left unset in the request.
    if plan.not_integers and plan.flags_valid:
        if not checked:
            await _check_access(stub, metadata, Scope.ARCHIVE)
        raise ApiError(Reason.LEAD_IDS_NOT_INTEGERS, lead_ids=plan.not_integers)

    try:
        response: lead_archive_pb2.ArchiveLeadsResponse = await stub.ArchiveLeads(
            plan.request, metadata=metadata
        )
    except grpc.aio.AioRpcError as error:
        _heard(request, metadata, error)
        if from_grpc_itself(error):  # e.g. a request over gRPC's size limit: 401/403 first
            await _check_access(stub, metadata, Scope.ARCHIVE)
        raise error_from_rpc(error, plan.restore) from None
    _heard(request, metadata, None)
    return json_response(translate.success_body(response))


@router.post(
    ARCHIVE_PATH,
    summary="Archive a batch of leads",
    description=f"Insert, update and safely delete up to {MAX_LEADS_PER_BATCH} leads, "
    "in that order." + openapi.needs_scope(Scope.ARCHIVE),
    response_model=None,
    responses=openapi.RESPONSES,
    openapi_extra=openapi.REQUEST_BODY,
)
async def archive_leads(request: Request) -> Response:
    """Archive one batch of leads; the raw body is read as JSON whatever its Content-Type."""
    try:
        return await _archive(request)
    except ApiError:
        raise
    except Exception:
        log.exception("unexpected error in POST %s", ARCHIVE_PATH)
        raise ApiError(Reason.INTERNAL, messages.UNEXPECTED, lead_errors=0) from None


async def _restore(request: Request) -> Response:
    stub = _stub(request)
    metadata = translate.auth_metadata(request.headers.get("authorization"))
    body, checked = await _json_body(request, stub, metadata, Scope.RESTORE, key_only=True)
    plan = translate.plan_restore(body)
    if plan.not_integers:
        if not checked:
            await _check_access(stub, metadata, Scope.RESTORE, key_only=True)
        raise ApiError(Reason.LEAD_IDS_NOT_INTEGERS, lead_ids=plan.not_integers)
    try:
        response: lead_archive_pb2.RestoreLeadsResponse = await stub.RestoreLeads(
            plan.request, metadata=metadata
        )
    except grpc.aio.AioRpcError as error:
        _heard(request, metadata, error)
        raise error_from_rpc(error, plan.restore) from None
    _heard(request, metadata, None)
    return json_response(translate.restore_success_body(response))


@router.post(
    RESTORE_PATH,
    summary="Restore a batch of archived leads",
    description=f"Insert up to {MAX_LEADS_PER_BATCH} archived leads missing from vicidial_list, "
    "then delete from the archive those whose vicidial_list row is identical. Office hours "
    "do not apply." + openapi.needs_scope(Scope.RESTORE),
    response_model=None,
    responses=openapi.RESTORE_RESPONSES,
    openapi_extra=openapi.RESTORE_REQUEST_BODY,
)
async def restore_leads(request: Request) -> Response:
    """Restore one batch of archived leads; the raw body is read as JSON."""
    try:
        return await _restore(request)
    except ApiError:
        raise
    except Exception:
        log.exception("unexpected error in POST %s", RESTORE_PATH)
        raise ApiError(Reason.INTERNAL, messages.UNEXPECTED, lead_errors=0) from None
