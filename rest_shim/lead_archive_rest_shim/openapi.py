"""What ``/docs`` shows for the archive endpoint: the API document's request and response examples.

Documentation only: the answers themselves come from the server and from ``messages``.
"""

from __future__ import annotations

from typing import Any, Final

from lead_archive_rest_shim import messages


def _lead_error(message: str, lead_ids: list[Any] | None = None) -> dict[str, Any]:
    lead_ids = lead_ids or []
    return {"message": message, "lead_errors": len(lead_ids), "lead_ids": lead_ids}


def _json(description: str, examples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    named = {name: {"summary": name, "value": value} for name, value in examples.items()}
    return {"description": description, "content": {"application/json": {"examples": named}}}


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
        "e.g. `Key=9KMJ2zbrgKInaus2q8dgAJXn6stp2I33fLaMkWGXzRU`.",
    }
}

REQUEST_BODY: Final[dict[str, Any]] = {
    "security": [{API_KEY_SCHEME: []}],
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
                            "maxItems": 500,
                            "uniqueItems": True,
                            "description": "The lead IDs to archive, at most 500 per request.",
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
                "message": "lead_ids batch was successfully processed",
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
            "insert_leads": _lead_error("insert_leads must be a boolean value"),
            "update_leads": _lead_error("update_leads must be a boolean value"),
            "delete_leads": _lead_error("delete_leads must be a boolean value"),
            "not integers": _lead_error(messages.NOT_INTEGER, ["0"]),
            "empty": _lead_error("lead_ids must contain atleast 1 value"),
            "too many": _lead_error("lead_ids cannot exceed 500 values"),
            "duplicates": _lead_error("lead_ids cannot contain duplicate values", [0]),
            "not existing": _lead_error("lead_ids does not exist", [0]),
        },
    ),
    401: _json(
        "The API user could not be validated.",
        {"unauthenticated": {"message": "unable to validate api user"}},
    ),
    403: _json(
        "Called during office hours.",
        {"office hours": {"message": "api cannot be executed during office hours time condition"}},
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
