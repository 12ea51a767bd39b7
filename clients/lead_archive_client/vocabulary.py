"""The API's vocabulary, written once: messages, limits, paths, metadata keys, reasons,
statuses.

The server (its core included), the REST shim and the clients all import it; none of them
restates a string or a number from here. It imports neither grpc nor the generated code, so
the core can use it and still know no transport: gRPC status codes are named here by their
names (``grpc.StatusCode[name]`` where a transport needs the object). The message strings
are contract (the API document's wording, typos included: "atleast").

Every error the service answers with carries a ``google.rpc.ErrorInfo`` (AIP-193) whose
``reason`` is one of ``Reason`` and whose ``domain`` is ``ERROR_DOMAIN``, next to the
``LeadErrors`` detail. Programs branch on the reason; people read the message.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

SERVICE_NAME: Final = "vicidial.leads.v1.LeadArchiveService"
"""The proto's service (a test checks it against the generated descriptor)."""
ERROR_DOMAIN: Final = "leads.vicidial.api"

# --- REST paths -------------------------------------------------------------------------------
ARCHIVE_PATH: Final = "/vicidial/leads/archive"
"""The documented endpoint."""
RESTORE_PATH: Final = "/vicidial/leads/restore"
"""The way back (CONTRACT 8)."""
API_PATHS: Final = (ARCHIVE_PATH, RESTORE_PATH)


# --- key scopes (CONTRACT 10) ---------------------------------------------------------------
class Scope(StrEnum):
    """What a key may do: each batch method (and its REST path) needs its scope."""

    ARCHIVE = "archive"
    """``ArchiveLeads``, ``POST /vicidial/leads/archive``."""
    RESTORE = "restore"
    """``RestoreLeads``, ``POST /vicidial/leads/restore``."""


SCOPES: Final = tuple(Scope)
"""Every scope, in the order keys list them (a key made before scopes has them all)."""
SCOPE_METADATA_KEY: Final = "scope"
"""The ``ErrorInfo.metadata`` entry of a KEY_SCOPE_MISSING answer: the scope the call needed."""

# --- limits ----------------------------------------------------------------------------------
MAX_LEADS_PER_BATCH: Final = 500
"""The API's limit on lead IDs per request."""
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
MAX_REQUEST_BYTES: Final = 1024 * 1024
"""The largest REST body read: JSON of 500 lead IDs is a few kB; anything near this is not a
request of ours."""
MAX_MESSAGE_BYTES: Final = 64 * 1024
"""The largest gRPC request message received. A 500-lead request is at most 5,009 bytes (every
ID a 10-byte varint, as a negative one is; real lead IDs take 5), so 64 KiB leaves 13 times
that; it bounds what a half-sent message can hold of the server's memory."""

# --- metadata (gRPC) and headers (HTTP) --------------------------------------------------------
AUTHORIZATION_KEY: Final = "authorization"
KEY_PREFIX: Final = "Key="
REQUEST_ID_KEY: Final = "x-request-id"
API_USER_KEY: Final = "x-api-user"
FORWARDED_FOR_KEY: Final = "x-forwarded-for"
CLIENT_REQUEST_ID_KEY: Final = "x-client-request-id"
"""The id an HTTP client sent in X-Request-Id, passed on by the shim: logged beside the
service's own id, never the audit row's record_id."""
REASON_HEADER: Final = "x-error-reason"
"""The REST answer's header naming the reason (the documented body has no room for it)."""
STATUS_DETAILS_KEY: Final = "grpc-status-details-bin"
"""Trailing metadata that carries the google.rpc.Status with the error details."""
# Fits vicidial_admin_log.record_id (VARCHAR(50)) and cannot smuggle anything into a log line.
REQUEST_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._:-]{1,50}")

# --- answers ---------------------------------------------------------------------------------
SUCCESS_MESSAGE: Final = "lead_ids batch was successfully processed"
COUNT_FIELDS: Final = ("select_count", "insert_count", "update_count", "delete_count")
"""The documented counts of a 200 answer, in the document's order."""
GRPC_COUNT_FIELDS: Final = (*COUNT_FIELDS, "kept_count", "in_use_count")
"""The counts of ArchiveLeadsResponse: the documented ones, then what gRPC adds."""
RESTORE_COUNT_FIELDS: Final = ("select_count", "insert_count", "delete_count")
"""The counts of a restore's 200 answer (POST /vicidial/leads/restore), in order."""
GRPC_RESTORE_COUNT_FIELDS: Final = (*RESTORE_COUNT_FIELDS, "kept_count")
"""The counts of RestoreLeadsResponse: the REST ones, then what gRPC adds."""
NOT_INTEGER_MESSAGE: Final = "lead_ids must only contain integer values"

LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Request-duration histogram buckets (seconds) of the gRPC server and the REST shim alike."""


class Reason(StrEnum):
    """Why a call failed: ``google.rpc.ErrorInfo.reason``, stable and machine-readable."""

    API_KEY_INVALID = "API_KEY_INVALID"
    OFFICE_HOURS = "OFFICE_HOURS"
    INSERT_LEADS_NOT_BOOLEAN = "INSERT_LEADS_NOT_BOOLEAN"
    UPDATE_LEADS_NOT_BOOLEAN = "UPDATE_LEADS_NOT_BOOLEAN"
    DELETE_LEADS_NOT_BOOLEAN = "DELETE_LEADS_NOT_BOOLEAN"
    LEAD_IDS_NOT_INTEGERS = "LEAD_IDS_NOT_INTEGERS"
    LEAD_IDS_EMPTY = "LEAD_IDS_EMPTY"
    LEAD_IDS_TOO_MANY = "LEAD_IDS_TOO_MANY"
    LEAD_IDS_DUPLICATED = "LEAD_IDS_DUPLICATED"
    LEAD_IDS_DO_NOT_EXIST = "LEAD_IDS_DO_NOT_EXIST"
    INTERNAL = "INTERNAL"
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    LOCK_CONFLICT = "LOCK_CONFLICT"
    SCHEMA_DRIFT = "SCHEMA_DRIFT"
    TABLE_NEEDS_REPAIR = "TABLE_NEEDS_REPAIR"
    CALL_TIME_MISSING = "CALL_TIME_MISSING"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    REQUEST_BODY_INVALID = "REQUEST_BODY_INVALID"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    REQUEST_MALFORMED = "REQUEST_MALFORMED"
    KEY_SCOPE_MISSING = "KEY_SCOPE_MISSING"


@dataclass(frozen=True)
class Problem:
    """What the API answers for a reason: its gRPC status code (by name, as
    ``grpc.StatusCode`` names it), its (default) message, and its HTTP status where that is
    not the code's own (``HTTP_STATUS``)."""

    code: str
    message: str
    http_status: int | None = None


PROBLEMS: Final[Mapping[Reason, Problem]] = MappingProxyType(
    {
        Reason.API_KEY_INVALID: Problem("UNAUTHENTICATED", "unable to validate api user"),
        Reason.OFFICE_HOURS: Problem(
            "PERMISSION_DENIED",
            "api cannot be executed during office hours time condition",
        ),
        Reason.INSERT_LEADS_NOT_BOOLEAN: Problem(
            "INVALID_ARGUMENT", "insert_leads must be a boolean value"
        ),
        Reason.UPDATE_LEADS_NOT_BOOLEAN: Problem(
            "INVALID_ARGUMENT", "update_leads must be a boolean value"
        ),
        Reason.DELETE_LEADS_NOT_BOOLEAN: Problem(
            "INVALID_ARGUMENT", "delete_leads must be a boolean value"
        ),
        Reason.LEAD_IDS_NOT_INTEGERS: Problem("INVALID_ARGUMENT", NOT_INTEGER_MESSAGE),
        Reason.LEAD_IDS_EMPTY: Problem("INVALID_ARGUMENT", "lead_ids must contain atleast 1 value"),
        Reason.LEAD_IDS_TOO_MANY: Problem(
            "INVALID_ARGUMENT",
            f"lead_ids cannot exceed {MAX_LEADS_PER_BATCH} values",
        ),
        Reason.LEAD_IDS_DUPLICATED: Problem(
            "INVALID_ARGUMENT", "lead_ids cannot contain duplicate values"
        ),
        Reason.LEAD_IDS_DO_NOT_EXIST: Problem("INVALID_ARGUMENT", "lead_ids does not exist"),
        Reason.INTERNAL: Problem(
            "INTERNAL",
            "unexpected error while archiving leads; no lead was removed that is not archived",
        ),
        Reason.DATABASE_UNAVAILABLE: Problem(
            "UNAVAILABLE", "database unavailable; retry the batch"
        ),
        Reason.LOCK_CONFLICT: Problem("INTERNAL", "database lock conflict; retry the batch"),
        Reason.SCHEMA_DRIFT: Problem(
            "FAILED_PRECONDITION",
            "vicidial_list_archive does not match vicidial_list",
        ),
        Reason.TABLE_NEEDS_REPAIR: Problem(
            "FAILED_PRECONDITION",
            "a table is marked as crashed or its index is corrupt: run REPAIR TABLE on it, "
            "then 'lead-archive verify', then rerun the batch",
        ),
        # The Vicidial call time that sets office hours went away after start-up (CONTRACT 7:
        # the message names no setting; health and the log tell the operator which).
        Reason.CALL_TIME_MISSING: Problem(
            "INTERNAL",
            "office hours cannot be read: their Vicidial call time no longer exists",
        ),
        Reason.SHUTTING_DOWN: Problem("UNAVAILABLE", "server shutting down; retry the batch"),
        # Said by the REST shim itself: a body that is not a JSON object (a 500, as the
        # contract says; the message says what is wrong), and a gRPC service it cannot reach.
        Reason.REQUEST_BODY_INVALID: Problem("INTERNAL", "request body is not a JSON object"),
        Reason.SERVICE_UNAVAILABLE: Problem("UNAVAILABLE", "archive service unavailable"),
        # Said by the gRPC server: the request message is not valid protobuf of its method
        # (only a client of its own can send that; the REST shim never does).
        Reason.REQUEST_MALFORMED: Problem(
            "INVALID_ARGUMENT", "request message is not a valid protobuf request"
        ),
        # A live key without the scope the call needs (CONTRACT 10): gRPC says so with its
        # own code; REST answers the document's only refusal of a key, its 401.
        Reason.KEY_SCOPE_MISSING: Problem(
            "PERMISSION_DENIED", "unable to validate api user", http_status=401
        ),
    }
)

HTTP_STATUS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "OK": 200,
        "INVALID_ARGUMENT": 400,
        "UNAUTHENTICATED": 401,
        "PERMISSION_DENIED": 403,
        # Every other code is one of the API document's "any other errors".
        "CANCELLED": 500,
        "UNKNOWN": 500,
        "DEADLINE_EXCEEDED": 500,
        "NOT_FOUND": 500,
        "ALREADY_EXISTS": 500,
        "RESOURCE_EXHAUSTED": 500,
        "FAILED_PRECONDITION": 500,
        "ABORTED": 500,
        "OUT_OF_RANGE": 500,
        "UNIMPLEMENTED": 500,
        "INTERNAL": 500,
        "UNAVAILABLE": 500,
        "DATA_LOSS": 500,
    }
)
"""The one table from gRPC status code (by name) to the HTTP status the API answers with
(every code)."""

MESSAGE_ONLY_STATUSES: Final = frozenset({401, 403})
"""The documented 401 and 403 bodies hold only the message."""


def printable_ascii(text: str) -> bool:
    """Whether a text can go into gRPC metadata or an HTTP header as it is (space to ~)."""
    return all(" " <= char <= "~" for char in text)


def safe_request_id(candidate: str | None) -> str:
    """The id when it is a safe token (REQUEST_ID_PATTERN), else ''."""
    return candidate if candidate and REQUEST_ID_PATTERN.fullmatch(candidate) else ""


def new_request_id() -> str:
    """A fresh request id: 32 hex digits."""
    return uuid.uuid4().hex


def request_id_or_new(candidate: str | None) -> str:
    """The caller's request id when it is a safe token (REQUEST_ID_PATTERN), else a fresh one."""
    return safe_request_id(candidate) or new_request_id()


def message(reason: Reason) -> str:
    """The contract message of a reason."""
    return PROBLEMS[reason].message


def http_status(reason: Reason) -> int:
    """The HTTP status the API answers a reason with."""
    problem = PROBLEMS[reason]
    return problem.http_status or HTTP_STATUS[problem.code]
