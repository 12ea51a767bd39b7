"""Shutdown: once draining, new LeadArchiveService calls are refused (UNAVAILABLE).

While draining, only calls from the REST shim of the same process (``lead-archive serve``)
still pass, so HTTP requests it accepted before the signal can finish; it proves itself with
a random per-process token in metadata, which never leaves the process's own connection.
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING, Any

from lead_archive_server.core.errors import ShuttingDown
from lead_archive_server.service.interceptor import ServiceInterceptor
from lead_archive_server.service.status import abort

if TYPE_CHECKING:
    from lead_archive_server.service.interceptor import Behaviour, Context

SHIM_TOKEN_KEY = "x-lead-archive-shim"


class Gate:
    """Whether new calls are taken: always, until shutdown begins."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(16)
        self.draining = False

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """What the in-process shim adds to every call."""
        return ((SHIM_TOKEN_KEY, self.token),)

    def admits(self, metadata: dict[str, Any]) -> bool:
        """Whether a new call with this metadata may start."""
        return not self.draining or self.from_own_shim(metadata)

    def from_own_shim(self, metadata: dict[str, Any]) -> bool:
        """Whether the call comes from the REST shim of this process (it has the token)."""
        token = metadata.get(SHIM_TOKEN_KEY) or ""
        if isinstance(token, bytes):
            token = token.decode(errors="replace")
        return hmac.compare_digest(token.encode(), self.token.encode())


class DrainGate(ServiceInterceptor):
    """Refuses new LeadArchiveService calls the gate does not admit; nothing else."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate

    def wrap(self, method: str, inner: Behaviour) -> Behaviour:
        """Refuse the call while draining, unless the gate admits it."""

        async def gated(request: Any, context: Context) -> Any:
            if not self._gate.admits(dict(context.invocation_metadata() or ())):
                await abort(context, ShuttingDown())
            return await inner(request, context)

        return gated
