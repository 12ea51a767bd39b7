"""One log line per LeadArchiveService call (logger ``server.requests``), with its fields."""

from __future__ import annotations

import logging
from typing import Any

import grpc

from lead_archive_server.service.calls import EndedCall

log = logging.getLogger("server.requests")


class AccessLog:
    """Writes the call's line: who, which id, outcome, duration, and a batch's counts."""

    async def call_ended(self, call: EndedCall) -> None:
        """Log one line for the call."""
        record = call.record
        fields: dict[str, Any] = {
            "request_id": record.request_id,
            **({"client_request_id": record.client_request_id} if record.client_request_id else {}),
            "method": record.method,
            "api_user": record.api_user,
            "client_ip": record.client_ip,
            "outcome": call.code.name,
            "duration_ms": round(call.seconds * 1000, 1),
        }
        if call.is_batch:
            names = call.count_fields
            fields["lead_count"] = len(call.request.lead_ids)
            fields.update(zip(names, call.counts() or [0] * len(names), strict=True))
        if record.caller_left:
            fields["caller_left"] = True
        if call.code != grpc.StatusCode.OK:
            # The contract's message; never SQL, a trace or a credential (see core.errors).
            fields["error"] = call.error
        log.info("%s %s", record.method, call.code.name, extra={"fields": fields})
