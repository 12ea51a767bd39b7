"""The call being served: who made it and under which id, for the rest of the service to read.

``CallObserver`` opens a ``CallRecord`` for every LeadArchiveService call; the access guard
learns the caller's address from it and tells it the API user through ``CurrentCaller``.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from lead_archive_client.vocabulary import (
    API_USER_KEY,
    GRPC_COUNT_FIELDS,
    GRPC_RESTORE_COUNT_FIELDS,
    REQUEST_ID_KEY,
)
from vicidial.leads.v1 import lead_archive_pb2 as pb

from lead_archive_server.access.keys import USER_NAME_RULE, valid_user_name
from lead_archive_server.core.errors import Unauthenticated

if TYPE_CHECKING:  # generic only in grpc's type stubs
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

log = logging.getLogger("server.access")


@dataclass
class CallRecord:
    """One call: who made it and under which id."""

    method: str
    request_id: str
    client_ip: str
    context: Context
    api_user: str = ""
    # What the caller said its id was: logged beside ours, never written to the audit row.
    client_request_id: str = ""
    # The caller stopped waiting (deadline, cancel) while the call's work went on.
    caller_left: bool = False

    def set_user(self, api_user: str) -> None:
        """Remember the API user and tell the caller in trailing metadata."""
        self.api_user = api_user
        self.context.set_trailing_metadata(self.trailing_metadata())

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        """What every answer carries: the request id, and the user once known."""
        user = ((API_USER_KEY, self.api_user),) if self.api_user else ()
        return ((REQUEST_ID_KEY, self.request_id), *user)


_current: ContextVar[CallRecord | None] = ContextVar("lead_archive_call", default=None)


def current_call() -> CallRecord | None:
    """The record of the call being served, if any."""
    return _current.get()


def enter_call(record: CallRecord) -> object:
    """Make `record` the current call; pass the token to ``leave_call``."""
    return _current.set(record)


def leave_call(token: object) -> None:
    """Undo ``enter_call``."""
    _current.reset(token)  # type: ignore[arg-type]


# What each batch method's request and response are, and the counts its response carries.
_BATCHES: dict[type[Any], tuple[str, ...]] = {
    pb.ArchiveLeadsRequest: GRPC_COUNT_FIELDS,
    pb.RestoreLeadsRequest: GRPC_RESTORE_COUNT_FIELDS,
    pb.ArchiveLeadsResponse: GRPC_COUNT_FIELDS,
    pb.RestoreLeadsResponse: GRPC_RESTORE_COUNT_FIELDS,
}


@dataclass(frozen=True)
class EndedCall:
    """A call that ended, as the observer hands it to its listeners (log, metrics, audit)."""

    record: CallRecord
    request: Any
    response: Any  # None unless the call succeeded
    code: grpc.StatusCode
    seconds: float
    error: str = ""  # the status details of a failed call: the contract's message

    @property
    def is_batch(self) -> bool:
        """Whether the call was an ArchiveLeads or RestoreLeads batch."""
        return type(self.request) in _BATCHES

    @property
    def count_fields(self) -> tuple[str, ...]:
        """The names of the counts a batch's response carries."""
        return _BATCHES.get(type(self.request), ())

    def counts(self) -> list[int]:
        """The response's counts, in count_fields order; empty unless it succeeded."""
        if type(self.response) not in _BATCHES:
            return []
        return [int(getattr(self.response, name)) for name in self.count_fields]


class CurrentCaller:
    """The access guard's view of the call being served (see access.guard.Caller)."""

    def address(self) -> str | None:
        """The client's address, as the observer established it."""
        record = current_call()
        return record.client_ip or None if record is not None else None

    def identified(self, api_user: str) -> None:
        """The key is valid: the user goes into the record (and the log), even for a 403.

        A user name that could not go into the answer's metadata (a key made before names
        were checked) is refused here, before anything runs: never after a batch changed data.
        """
        if not valid_user_name(api_user):
            log.warning(
                "refused a valid key of API user %s: user names must be %s; revoke its keys "
                "(lead-archive keys list shows them) and create one for a valid name",
                ascii(api_user),
                USER_NAME_RULE,
                extra={"fields": {"event": "user_name_refused"}},
            )
            raise Unauthenticated()
        record = current_call()
        if record is not None:
            record.set_user(api_user)
