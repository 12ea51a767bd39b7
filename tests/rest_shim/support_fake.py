"""A fake LeadArchiveService that mimics the real server's checks (key, office hours, flags,
empty, >500, duplicates, unknown IDs), records every call it gets and can be scripted to end
a call with any status; and the REST shim wired to an upstream through httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from google.protobuf import any_pb2
from google.rpc import status_pb2
from grpc_status import rpc_status
from lead_archive_rest_shim import create_app
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

GOOD_KEY = "Key=good-key"
EXISTING_LEADS = frozenset({1, 2, 3, 4, 5})

UNAUTHENTICATED = "unable to validate api user"
OFFICE_HOURS = "api cannot be executed during office hours time condition"
SUCCESS = "lead_ids batch was successfully processed"


@dataclass(frozen=True)
class Failure:
    """A scripted error status; ``detail=False`` sends no LeadErrors detail."""

    code: grpc.StatusCode
    message: str
    lead_ids: Sequence[int] = ()
    detail: bool = True


@dataclass
class Call:
    """One RPC the fake received."""

    method: str
    request: Any
    metadata: dict[str, str]


class Raise(Exception):
    """Scripted: the servicer raises an unhandled exception (the call ends UNKNOWN)."""


@dataclass
class FakeLeadArchive(pb_grpc.LeadArchiveServiceServicer):
    """Records calls; answers like the real server unless a reply is scripted."""

    calls: list[Call] = field(default_factory=list)
    office_hours: bool = False
    archive_reply: Failure | Raise | None = None
    access_reply: Failure | None = None

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]

    def archive_call(self) -> Call:
        """The (first) ArchiveLeads call; CheckAccess may come before it (the key first)."""
        return next(call for call in self.calls if call.method == "ArchiveLeads")

    def _record(self, method: str, request: Any, context: Any) -> None:
        metadata = {key: value for key, value in context.invocation_metadata() or ()}
        self.calls.append(Call(method, request, metadata))

    def _admit(self, context: Any) -> Failure | None:
        if self.access_reply is not None:
            return self.access_reply
        if dict(context.invocation_metadata() or ()).get("authorization") != GOOD_KEY:
            return Failure(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED)
        if self.office_hours:
            return Failure(grpc.StatusCode.PERMISSION_DENIED, OFFICE_HOURS)
        return None

    async def CheckAccess(self, request: Any, context: Any) -> pb.CheckAccessResponse:
        self._record("CheckAccess", request, context)
        failure = self._admit(context)
        if failure is not None:
            await abort(context, failure)
        return pb.CheckAccessResponse(api_user="tester")

    async def ArchiveLeads(self, request: Any, context: Any) -> pb.ArchiveLeadsResponse:
        self._record("ArchiveLeads", request, context)
        if isinstance(self.archive_reply, Raise):
            raise self.archive_reply
        failure = self.archive_reply or self._admit(context) or validate(request)
        if failure is not None:
            await abort(context, failure)
        return pb.ArchiveLeadsResponse(
            message=SUCCESS,
            select_count=len(request.lead_ids),
            insert_count=len(request.lead_ids),
            update_count=0,
            delete_count=len(request.lead_ids),
            kept_count=7,
        )


def validate(request: Any) -> Failure | None:
    """The real server's field checks, in the contract's order."""
    bad = grpc.StatusCode.INVALID_ARGUMENT
    for flag in ("insert_leads", "update_leads", "delete_leads"):
        if not request.HasField(flag):
            return Failure(bad, f"{flag} must be a boolean value")
    ids = list(request.lead_ids)
    if not ids:
        return Failure(bad, "lead_ids must contain atleast 1 value")
    if len(ids) > 500:
        return Failure(bad, "lead_ids cannot exceed 500 values")
    seen: set[int] = set()
    duplicates: list[int] = []
    for lead_id in ids:
        if lead_id in seen and lead_id not in duplicates:
            duplicates.append(lead_id)
        seen.add(lead_id)
    if duplicates:
        return Failure(bad, "lead_ids cannot contain duplicate values", duplicates)
    unknown = [lead_id for lead_id in ids if lead_id not in EXISTING_LEADS]
    if unknown:
        return Failure(bad, "lead_ids does not exist", unknown)
    return None


async def abort(context: Any, failure: Failure) -> None:
    """End the call the way the real server does: google.rpc.Status with a LeadErrors detail."""
    status = status_pb2.Status(code=failure.code.value[0], message=failure.message)
    if failure.detail:
        detail = any_pb2.Any()
        detail.Pack(
            pb.LeadErrors(
                message=failure.message,
                lead_errors=len(failure.lead_ids),
                lead_ids=failure.lead_ids,
            )
        )
        status.details.append(detail)
        rich = rpc_status.to_status(status)
        await context.abort(rich.code, rich.details, rich.trailing_metadata)
    await context.abort(failure.code, failure.message)


async def shim_client(upstream: str, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for create_app(upstream), with the app's lifespan running."""
    app = create_app(upstream, **kwargs)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://shim.test"
        ) as client,
    ):
        yield client
