"""The one way an interceptor of ours wraps LeadArchiveService's calls; others pass through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from lead_archive_client.vocabulary import SERVICE_NAME

_PREFIX = f"/{SERVICE_NAME}/"

if TYPE_CHECKING:  # generic only in grpc's type stubs
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
    Behaviour: TypeAlias = Callable[[Any, Context], Awaitable[Any]]


def ours(handler: Handler | None, details: grpc.HandlerCallDetails) -> str | None:
    """The method name (e.g. "ArchiveLeads") when the handler serves a unary method of
    LeadArchiveService, else None (health, reflection, unknown methods)."""
    method = str(details.method)
    if handler is None or handler.unary_unary is None or not method.startswith(_PREFIX):
        return None
    return method.removeprefix(_PREFIX)


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    """Wraps each unary method of LeadArchiveService; health and reflection pass untouched."""

    def wrap(self, method: str, inner: Behaviour) -> Behaviour:
        """The behaviour that replaces `inner` for `method` (e.g. "ArchiveLeads")."""
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        """Wrap the unary methods of LeadArchiveService."""
        handler = await continuation(handler_call_details)
        method = ours(handler, handler_call_details)
        if handler is None or method is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            # A coroutine function for an aio server, whatever grpc's stubs say.
            self.wrap(method, handler.unary_unary),  # type: ignore[arg-type]
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
