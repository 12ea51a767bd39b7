"""The errors a batch can end with: each names its reason from the API's vocabulary.

The reason fixes the contract message (and, in the service layer, the gRPC code and HTTP
status); an error may carry a more precise message of its own, never SQL, a trace or a
credential.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from lead_archive_client.vocabulary import SCOPE_METADATA_KEY, Reason, message


class OperatorError(Exception):
    """Something an operator fixes (a port in use, a missing table, a database the demo may
    not touch), said in one line; never a bug. Commands end with its message."""


class ArchiveError(Exception):
    """An error the caller receives, with its reason, message and the lead IDs at fault."""

    reason: ClassVar[Reason] = Reason.INTERNAL

    def __init__(self, lead_ids: Sequence[int] = (), *, message: str | None = None) -> None:
        self.lead_ids: tuple[int, ...] = tuple(lead_ids)
        self.message = message if message is not None else self.default_message()
        super().__init__(self.message)

    @classmethod
    def default_message(cls) -> str:
        """The contract message of this error's reason."""
        return message(cls.reason)

    @property
    def lead_errors(self) -> int:
        """How many lead IDs are at fault."""
        return len(self.lead_ids)

    @property
    def info(self) -> Mapping[str, str]:
        """What the answer's ErrorInfo carries beside the reason (its metadata)."""
        return {}


class Unauthenticated(ArchiveError):
    """The key is missing, malformed, unknown or revoked (401)."""

    reason = Reason.API_KEY_INVALID


class ScopeMissing(ArchiveError):
    """A live key without the scope the call needs (gRPC PERMISSION_DENIED, REST 401)."""

    reason = Reason.KEY_SCOPE_MISSING

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    @property
    def info(self) -> Mapping[str, str]:
        """The scope the call needed."""
        return {SCOPE_METADATA_KEY: self.scope}


class OfficeHours(ArchiveError):
    """The call came inside office hours (403)."""

    reason = Reason.OFFICE_HOURS


class InvalidRequest(ArchiveError):
    """The request breaks one of the documented field rules (400)."""


class InsertLeadsNotBoolean(InvalidRequest):
    reason = Reason.INSERT_LEADS_NOT_BOOLEAN


class UpdateLeadsNotBoolean(InvalidRequest):
    reason = Reason.UPDATE_LEADS_NOT_BOOLEAN


class DeleteLeadsNotBoolean(InvalidRequest):
    reason = Reason.DELETE_LEADS_NOT_BOOLEAN


class NoLeadIds(InvalidRequest):
    reason = Reason.LEAD_IDS_EMPTY


class TooManyLeadIds(InvalidRequest):
    reason = Reason.LEAD_IDS_TOO_MANY


class DuplicateLeadIds(InvalidRequest):
    reason = Reason.LEAD_IDS_DUPLICATED


class UnknownLeadIds(InvalidRequest):
    reason = Reason.LEAD_IDS_DO_NOT_EXIST


class ServerError(ArchiveError):
    """Anything else (500)."""

    reason = Reason.INTERNAL


class DatabaseUnavailable(ServerError):
    """The database could not be reached; the caller may retry the batch (500)."""

    reason = Reason.DATABASE_UNAVAILABLE


class TransientConflict(ServerError):
    """A deadlock or lock-wait timeout: the transaction was rolled back and may be retried."""

    reason = Reason.LOCK_CONFLICT


class SchemaDrift(ServerError):
    """vicidial_list_archive cannot hold an exact copy of vicidial_list (500)."""

    reason = Reason.SCHEMA_DRIFT


class TableNeedsRepair(ServerError):
    """A MyISAM table was left marked as crashed (e.g. MariaDB itself crashed) (500)."""

    reason = Reason.TABLE_NEEDS_REPAIR


class ShuttingDown(ServerError):
    """The server is stopping and takes no new batches; retry elsewhere or later (500)."""

    reason = Reason.SHUTTING_DOWN
