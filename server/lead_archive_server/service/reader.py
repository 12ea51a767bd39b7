"""Read a LeadArchiveService request only for a caller with a key, and never crash on one.

grpc reads a unary call's whole message before any code of ours runs, and turns a message
that is not valid protobuf into UNKNOWN with Python's exception text. ``RequestReader``, the
outermost interceptor, serves each unary method as a client-streaming one (the same bytes on
the wire), so that it runs before the message is read:

- a call without an ``authorization`` key of the right shape goes on with an empty request,
  its message never read: authentication comes first and refuses it (UNAUTHENTICATED, logged
  and counted like any other), so a keyless stream costs no message buffer;
- otherwise the one message is read and parsed; bytes that are not a valid request go on as
  ``Malformed``, which the servicer refuses after the key (INVALID_ARGUMENT, reason
  REQUEST_MALFORMED), like a REST body that is not JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import grpc
from google.protobuf.message import DecodeError, Message
from lead_archive_client.vocabulary import AUTHORIZATION_KEY, Reason

from lead_archive_server.access.keys import key_from_authorization
from lead_archive_server.core.errors import InvalidRequest
from lead_archive_server.service.interceptor import ours

if TYPE_CHECKING:
    from lead_archive_server.service.interceptor import Behaviour, Context, Handler

M = TypeVar("M", bound=Message)


class RequestMalformed(InvalidRequest):
    """The message is not a valid request of its method (INVALID_ARGUMENT)."""

    reason = Reason.REQUEST_MALFORMED


class Malformed:
    """What reaches the servicer in place of a message that could not be parsed."""


def well_formed(request: M | Malformed) -> M:
    """The request, or RequestMalformed when its message could not be parsed."""
    if isinstance(request, Malformed):
        raise RequestMalformed()
    return request


def has_key(context: Context) -> bool:
    """Whether the call carries a key of the right shape (not whether it is valid)."""
    for key, value in context.invocation_metadata() or ():
        if key == AUTHORIZATION_KEY:
            text = value if isinstance(value, str) else value.decode(errors="replace")
            return key_from_authorization(text) is not None
    return False


class RequestReader(grpc.aio.ServerInterceptor):
    """Serves LeadArchiveService's unary methods so that a keyless call's message is not read."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        """Replace a unary handler of the service by a client-streaming one reading raw bytes."""
        handler = await continuation(handler_call_details)
        if handler is None or ours(handler, handler_call_details) is None:
            return handler
        parse: Callable[[bytes], Any] = handler.request_deserializer  # type: ignore[assignment]
        # A coroutine function for an aio server, whatever grpc's stubs say.
        inner = cast("Behaviour", handler.unary_unary)

        async def read_then_serve(_: AsyncIterator[bytes], context: Context) -> Any:
            if not has_key(context):
                return await inner(parse(b""), context)
            return await inner(await _message(context, parse), context)

        return grpc.stream_unary_rpc_method_handler(
            read_then_serve,
            request_deserializer=None,  # raw bytes: parsed above, where a failure is ours
            response_serializer=handler.response_serializer,
        )


async def _message(context: Context, parse: Callable[[bytes], Any]) -> Any:
    """The call's one message, parsed; Malformed when there is none or it is not protobuf.

    Read with ``context.read()``, not by iterating the request iterator: an iterator left
    suspended after its first message was kept alive with the call's state (15 KiB a
    failed call, never given back).
    """
    raw = await context.read()
    if not isinstance(raw, bytes):  # grpc.aio.EOF: the client sent no message
        return Malformed()
    try:
        return parse(raw)
    except (DecodeError, ValueError, TypeError):
        return Malformed()
