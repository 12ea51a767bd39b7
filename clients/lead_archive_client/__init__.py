"""Python clients of the Vicidial Lead Archive API: gRPC and REST, sync and asyncio.

::

    from lead_archive_client import LeadArchiveClient

    with LeadArchiveClient("127.0.0.1:50051", api_key) as client:
        result = client.archive([101, 102, 103])
    print(result.delete_count, result.kept_count)

The generated gRPC code is here too, as ``pb`` (messages) and ``pb_grpc`` (stubs); it is
also importable as ``vicidial.leads.v1``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vicidial.leads.v1 import lead_archive_pb2 as pb
    from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

    from lead_archive_client.errors import (
        InvalidLeads,
        LeadArchiveError,
        OfficeHours,
        ScopeMissing,
        ServerError,
        Timeout,
        Unauthenticated,
        Unavailable,
        UnknownLeads,
    )
    from lead_archive_client.grpc_client import AsyncLeadArchiveClient, LeadArchiveClient
    from lead_archive_client.model import Access, ArchiveResult, RestoreResult
    from lead_archive_client.rest_client import AsyncRestLeadArchiveClient, RestLeadArchiveClient
    from lead_archive_client.retry import NO_RETRY, RetryPolicy
    from lead_archive_client.vocabulary import MAX_LEADS_PER_BATCH, Reason, Scope

# Every public name loads its module when first named: the server's core imports the
# vocabulary (this package) and must not load grpc with it; a gRPC caller does not pay for
# the REST clients (httpx, a tenth of a second to import), nor a REST caller for grpc.
_MODULES = {
    "pb": "vicidial.leads.v1.lead_archive_pb2",
    "pb_grpc": "vicidial.leads.v1.lead_archive_pb2_grpc",
    **dict.fromkeys(
        (
            "InvalidLeads",
            "LeadArchiveError",
            "OfficeHours",
            "ScopeMissing",
            "ServerError",
            "Timeout",
            "Unauthenticated",
            "Unavailable",
            "UnknownLeads",
        ),
        "lead_archive_client.errors",
    ),
    "AsyncLeadArchiveClient": "lead_archive_client.grpc_client",
    "LeadArchiveClient": "lead_archive_client.grpc_client",
    "Access": "lead_archive_client.model",
    "ArchiveResult": "lead_archive_client.model",
    "RestoreResult": "lead_archive_client.model",
    "AsyncRestLeadArchiveClient": "lead_archive_client.rest_client",
    "RestLeadArchiveClient": "lead_archive_client.rest_client",
    "NO_RETRY": "lead_archive_client.retry",
    "RetryPolicy": "lead_archive_client.retry",
    "MAX_LEADS_PER_BATCH": "lead_archive_client.vocabulary",
    "Reason": "lead_archive_client.vocabulary",
    "Scope": "lead_archive_client.vocabulary",
}


def __getattr__(name: str) -> object:
    if name in ("pb", "pb_grpc"):
        return import_module(_MODULES[name])
    if name in _MODULES:
        return getattr(import_module(_MODULES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MAX_LEADS_PER_BATCH",
    "NO_RETRY",
    "Access",
    "ArchiveResult",
    "AsyncLeadArchiveClient",
    "AsyncRestLeadArchiveClient",
    "InvalidLeads",
    "LeadArchiveClient",
    "LeadArchiveError",
    "OfficeHours",
    "Reason",
    "RestLeadArchiveClient",
    "RestoreResult",
    "RetryPolicy",
    "Scope",
    "ScopeMissing",
    "ServerError",
    "Timeout",
    "Unauthenticated",
    "Unavailable",
    "UnknownLeads",
    "pb",
    "pb_grpc",
]
