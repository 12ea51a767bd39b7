"""What ``/docs`` shows for the archive and restore endpoints: the API document's request and
response examples.

Documentation only: the answers themselves come from the server and from ``messages``; every
message and limit shown here is the vocabulary's own.
"""

from __future__ import annotations

from typing import Any, Final

from lead_archive_client.vocabulary import (
    MAX_LEADS_PER_BATCH,
    REASON_HEADER,
    SUCCESS_MESSAGE,
    Reason,
    Scope,
    message,
)


def _lead_error(reason: Reason | str, lead_ids: list[Any] | None = None) -> dict[str, Any]:
    lead_ids = lead_ids or []
    text = message(reason) if isinstance(reason, Reason) else reason
    return {"message": text, "lead_errors": len(lead_ids), "lead_ids": lead_ids}


def _json(description: str, examples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    named = {name: {"summary": name, "value": value} for name, value in examples.items()}
    return {"description": description, "content": {"application/json": {"examples": named}}}


_LEAD_IDS_DESCRIPTION = f"The lead IDs to archive, at most {MAX_LEADS_PER_BATCH} per request."

REQUEST_EXAMPLE: Final[dict[str, Any]] = {
    "insert_leads": True,
    "update_leads": True,
    "delete_leads": True,
    "lead_ids": [0, 1],
}

# The key goes in the Authorization header as `Key=<api key>`: an apiKey scheme (not
# HTTP auth, whose schemes Swagger UI would prefix itself), so "Try it out" can send it.
API_KEY_SCHEME: Final = "ApiKey"
SECURITY_SCHEMES: Final[dict[str, Any]] = {
    API_KEY_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Key=` followed by the API key (`lead-archive keys create`), "
        "e.g. `Key=9KMJ2zbrgKInaus2q8dgAJXn6stp2I33fLaMkWGXzRU`. Each endpoint needs a key "
        "with its scope: `archive` or `restore` (`keys create --scope ...`).",
    }
}
# The extension that names the scope an operation needs, beside its description.
SCOPE_EXTENSION: Final = "x-key-scope"


def needs_scope(scope: Scope) -> str:
    """The sentence of an endpoint's description that says which scope its key needs."""
    return (
        f" Needs a key with the `{scope}` scope: a key without it is refused with 401 and "
        f"`{REASON_HEADER}: {Reason.KEY_SCOPE_MISSING}`."
    )


def _security(scope: Scope) -> dict[str, Any]:
    return {"security": [{API_KEY_SCHEME: []}], SCOPE_EXTENSION: scope.value}


REQUEST_BODY: Final[dict[str, Any]] = {
    **_security(Scope.ARCHIVE),
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["insert_leads", "update_leads", "delete_leads", "lead_ids"],
                    "properties": {
                        "insert_leads": {
                            "type": "boolean",
                            "description": "Insert lead IDs not yet in vicidial_list_archive.",
                        },
                        "update_leads": {
                            "type": "boolean",
                            "description": "Update archived lead IDs from vicidial_list.",
                        },
                        "delete_leads": {
                            "type": "boolean",
                            "description": "Delete lead IDs from vicidial_list when their "
                            "archived copy matches.",
                        },
                        "lead_ids": {
                            "type": "array",
                            "items": {"type": "integer"},
                            "minItems": 1,
                            "maxItems": MAX_LEADS_PER_BATCH,
                            "uniqueItems": True,
                            "description": _LEAD_IDS_DESCRIPTION,
                        },
                    },
                },
                "example": REQUEST_EXAMPLE,
            }
        },
    },
}

RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: _json(
        "The batch was processed.",
        {
            "processed": {
                "message": SUCCESS_MESSAGE,
                "select_count": 1,
                "insert_count": 1,
                "update_count": 0,
                "delete_count": 1,
            }
        },
    ),
    400: _json(
        "A field of the request is invalid.",
        {
            "insert_leads": _lead_error(Reason.INSERT_LEADS_NOT_BOOLEAN),
            "update_leads": _lead_error(Reason.UPDATE_LEADS_NOT_BOOLEAN),
            "delete_leads": _lead_error(Reason.DELETE_LEADS_NOT_BOOLEAN),
            "not integers": _lead_error(Reason.LEAD_IDS_NOT_INTEGERS, ["0"]),
            "empty": _lead_error(Reason.LEAD_IDS_EMPTY),
            "too many": _lead_error(Reason.LEAD_IDS_TOO_MANY),
            "duplicates": _lead_error(Reason.LEAD_IDS_DUPLICATED, [0]),
            "not existing": _lead_error(Reason.LEAD_IDS_DO_NOT_EXIST, [0]),
        },
    ),
    401: _json(
        "The API user could not be validated: the key is missing, unknown, revoked or "
        f"expired, or it lacks this endpoint's scope (`{REASON_HEADER}: "
        f"{Reason.KEY_SCOPE_MISSING}`).",
        {"unauthenticated": {"message": message(Reason.API_KEY_INVALID)}},
    ),
    403: _json(
        "Called during office hours.",
        {"office hours": {"message": message(Reason.OFFICE_HOURS)}},
    ),
    500: _json(
        "Any other error, such as a body that is not a JSON object.",
        {
            "other": _lead_error(
                "Unexpected character encountered while parsing number: s. "
                "Path 'lead_ids[97]', line 104, position 5."
            )
        },
    ),
}

RESTORE_REQUEST_BODY: Final[dict[str, Any]] = {
    **_security(Scope.RESTORE),
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["lead_ids"],
                    "properties": {
                        "lead_ids": {
                            "type": "array",
                            "items": {"type": "integer"},
                            "minItems": 1,
                            "maxItems": MAX_LEADS_PER_BATCH,
                            "uniqueItems": True,
                            "description": "The archived lead IDs to restore, at most "
                            f"{MAX_LEADS_PER_BATCH} per request.",
                        },
                    },
                },
                "example": {"lead_ids": [0, 1]},
            }
        },
    },
}

_RESTORE_400 = {
    name: example
    for name, example in RESPONSES[400]["content"]["application/json"]["examples"].items()
    if not name.endswith("_leads")
}

RESTORE_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: _json(
        "The batch was processed.",
        {
            "processed": {
                "message": SUCCESS_MESSAGE,
                "select_count": 2,
                "insert_count": 2,
                "delete_count": 2,
            }
        },
    ),
    400: {
        "description": "lead_ids is invalid; 'does not exist' means not in vicidial_list_archive.",
        "content": {"application/json": {"examples": _RESTORE_400}},
    },
    401: RESPONSES[401],
    500: RESPONSES[500],
}
