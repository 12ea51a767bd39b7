"""The messages the REST shim writes itself; every other message comes from the gRPC server.

They describe failures the API document leaves to the implementation ("any other errors":
HTTP 500); the contract's own messages are in ``lead_archive_client.vocabulary``.
"""

from __future__ import annotations

BODY_NOT_JSON = "request body is not valid JSON: {reason}"
BODY_NOT_OBJECT = "request body must be a JSON object, not {kind}"
BODY_TOO_DEEP = "request body is not valid JSON: it is nested too deeply"
BODY_CONSTANT = "{constant} is not a JSON value"
BODY_TOO_LARGE = "request body is larger than {limit} bytes (1 MiB); it was not read"
BODY_NOT_RECEIVED = "request body was not received: the client closed or was too slow"

UPSTREAM_FAILED = "archive service failed unexpectedly"
UNEXPECTED = "unexpected error in the REST gateway"
