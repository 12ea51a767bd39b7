"""The messages the REST shim writes itself; every other message comes from the gRPC server.

``NOT_INTEGER`` is contract (the API document's wording); the others describe failures
the document leaves to the implementation ("any other errors": HTTP 500).
"""

from __future__ import annotations

NOT_INTEGER = "lead_ids must only contain integer values"

BODY_NOT_JSON = "request body is not valid JSON: {reason}"
BODY_NOT_OBJECT = "request body must be a JSON object, not {kind}"
BODY_TOO_DEEP = "request body is not valid JSON: it is nested too deeply"
BODY_CONSTANT = "{constant} is not a JSON value"
BODY_UNREADABLE = "request body could not be read"
BODY_TOO_LARGE = "request body is larger than {limit} bytes (1 MiB); it was not read"

UPSTREAM_UNAVAILABLE = "archive service unavailable"
UPSTREAM_FAILED = "archive service failed unexpectedly"
UNEXPECTED = "unexpected error in the REST gateway"
