"""The error vocabulary of the Lead Archive API: each error knows its message and gRPC code.

The message strings are contract (the API document, typos included) and appear only here.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

SUCCESS_MESSAGE = "lead_ids batch was successfully processed"
MAX_LEADS_PER_BATCH = 500


class ArchiveError(Exception):
    """An error the caller receives, with the documented message and its lead IDs."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    message: str = "unexpected error while archiving leads"

    def __init__(self, lead_ids: Sequence[int] = (), *, message: str | None = None) -> None:
        self.lead_ids: tuple[int, ...] = tuple(lead_ids)
        if message is not None:
            self.message = message
        super().__init__(self.message)

    @property
    def lead_errors(self) -> int:
        """How many lead IDs are at fault."""
        return len(self.lead_ids)


class Unauthenticated(ArchiveError):
    """The key is missing, malformed, unknown or revoked (401)."""

    code = grpc.StatusCode.UNAUTHENTICATED
    message = "unable to validate api user"


class OfficeHours(ArchiveError):
    """The call came inside office hours (403)."""

    code = grpc.StatusCode.PERMISSION_DENIED
    message = "api cannot be executed during office hours time condition"


class InvalidRequest(ArchiveError):
    """The request breaks one of the documented field rules (400)."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class InsertLeadsNotBoolean(InvalidRequest):
    message = "insert_leads must be a boolean value"


class UpdateLeadsNotBoolean(InvalidRequest):
    message = "update_leads must be a boolean value"


class DeleteLeadsNotBoolean(InvalidRequest):
    message = "delete_leads must be a boolean value"


class NoLeadIds(InvalidRequest):
    message = "lead_ids must contain atleast 1 value"


class TooManyLeadIds(InvalidRequest):
    message = f"lead_ids cannot exceed {MAX_LEADS_PER_BATCH} values"


class DuplicateLeadIds(InvalidRequest):
    message = "lead_ids cannot contain duplicate values"


class UnknownLeadIds(InvalidRequest):
    message = "lead_ids does not exist"


class ServerError(ArchiveError):
    """Anything else (500). The message never carries SQL text, a trace or credentials."""

    code = grpc.StatusCode.INTERNAL
    message = "unexpected error while archiving leads; no lead was removed that is not archived"


class DatabaseUnavailable(ServerError):
    """The database could not be reached; the caller may retry the batch (500)."""

    code = grpc.StatusCode.UNAVAILABLE
    message = "database unavailable; retry the batch"


class SchemaDrift(ServerError):
    """vicidial_list_archive cannot hold an exact copy of vicidial_list (500)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    message = "vicidial_list_archive does not match vicidial_list"


class TableNeedsRepair(ServerError):
    """A MyISAM table was left marked as crashed (e.g. MariaDB itself crashed) (500)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    message = (
        "a table is marked as crashed or its index is corrupt: run REPAIR TABLE on it, "
        "then 'lead-archive verify', then rerun the batch"
    )


class ShuttingDown(ServerError):
    """The server is stopping and takes no new batches; retry elsewhere or later (500)."""

    code = grpc.StatusCode.UNAVAILABLE
    message = "server shutting down; retry the batch"
