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

from typing import TYPE_CHECKING

from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from lead_archive_client.errors import (
    InvalidLeads,
    LeadArchiveError,
    OfficeHours,
    ServerError,
    Timeout,
    Unauthenticated,
    Unavailable,
    UnknownLeads,
)
from lead_archive_client.grpc_client import AsyncLeadArchiveClient, LeadArchiveClient
from lead_archive_client.model import ArchiveResult, RestoreResult
from lead_archive_client.retry import NO_RETRY, RetryPolicy
from lead_archive_client.vocabulary import MAX_LEADS_PER_BATCH, Reason

if TYPE_CHECKING:
    from lead_archive_client.rest_client import AsyncRestLeadArchiveClient, RestLeadArchiveClient

# The REST clients (and httpx, a tenth of a second to import) load when first named, so a
# gRPC caller (the bulk command's start-up) does not pay for them.
_LAZY = {"RestLeadArchiveClient", "AsyncRestLeadArchiveClient"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from lead_archive_client import rest_client

        return getattr(rest_client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MAX_LEADS_PER_BATCH",
    "NO_RETRY",
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
    "ServerError",
    "Timeout",
    "Unauthenticated",
    "Unavailable",
    "UnknownLeads",
    "pb",
    "pb_grpc",
]
