"""The friendly gRPC client: ``LeadArchiveClient`` (sync) and ``AsyncLeadArchiveClient``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import grpc
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from lead_archive_client._closing import AsyncClosing, Closing
from lead_archive_client.errors import error_from_rpc
from lead_archive_client.model import (
    ArchiveResult,
    RestoreResult,
    checked_flag,
    checked_lead_ids,
)
from lead_archive_client.retry import RetryPolicy, call_with_retry, call_with_retry_async

DEFAULT_TIMEOUT_S: Final = 60.0
DEFAULT_RETRY: Final = RetryPolicy()

# A restarted server is found again within about a second, not after gRPC's default
# reconnect backoff of up to two minutes, which would outlast any sensible retry deadline.
CHANNEL_OPTIONS: Final = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
)

Tls = bool | grpc.ChannelCredentials


def archive_request(
    lead_ids: Iterable[int], *, insert: bool, update: bool, delete: bool
) -> pb.ArchiveLeadsRequest:
    """The request message for one batch."""
    return pb.ArchiveLeadsRequest(
        insert_leads=checked_flag("insert", insert),
        update_leads=checked_flag("update", update),
        delete_leads=checked_flag("delete", delete),
        lead_ids=checked_lead_ids(lead_ids),
    )


def result_from_reply(reply: pb.ArchiveLeadsResponse) -> ArchiveResult:
    """The typed result of a successful call."""
    return ArchiveResult(
        select_count=reply.select_count,
        insert_count=reply.insert_count,
        update_count=reply.update_count,
        delete_count=reply.delete_count,
        kept_count=reply.kept_count,
    )


def restore_request(lead_ids: Iterable[int]) -> pb.RestoreLeadsRequest:
    """The request message for one restore batch."""
    return pb.RestoreLeadsRequest(lead_ids=checked_lead_ids(lead_ids))


def restore_result_from_reply(reply: pb.RestoreLeadsResponse) -> RestoreResult:
    """The typed result of a successful restore call."""
    return RestoreResult(
        select_count=reply.select_count,
        insert_count=reply.insert_count,
        delete_count=reply.delete_count,
        kept_count=reply.kept_count,
    )


def _credentials(tls: Tls) -> grpc.ChannelCredentials | None:
    if isinstance(tls, grpc.ChannelCredentials):
        return tls
    return grpc.ssl_channel_credentials() if tls else None


def _options(tls_server_name: str | None) -> tuple[tuple[str, str | int], ...]:
    if tls_server_name:
        return (*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", tls_server_name))
    return CHANNEL_OPTIONS


def _metadata(api_key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Key={api_key}"),)


class LeadArchiveClient(Closing):
    """Archive leads over gRPC, blocking; one channel for the client's lifetime.

    ``tls``: False for a plaintext channel, True for TLS checked against the system's CAs,
    or ``grpc.ssl_channel_credentials(...)`` for your own CA or client certificate;
    ``tls_server_name`` is the name the server's certificate must carry when it is not the
    host in ``target``.
    ``timeout`` bounds each attempt in seconds; ``retry`` says how long transient failures
    are retried (see ``clients.retry``). Use it as a context manager, or call ``close()``.
    """

    def __init__(
        self,
        target: str,
        api_key: str,
        *,
        tls: Tls = False,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = DEFAULT_RETRY,
        tls_server_name: str | None = None,
    ) -> None:
        credentials = _credentials(tls)
        self.target = target
        self._channel = (
            grpc.secure_channel(target, credentials, options=_options(tls_server_name))
            if credentials
            else grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        )
        self._stub = pb_grpc.LeadArchiveServiceStub(self._channel)
        self._metadata = _metadata(api_key)
        self._timeout = timeout
        self._retry = retry

    def archive(
        self,
        lead_ids: Iterable[int],
        *,
        insert: bool = True,
        update: bool = True,
        delete: bool = True,
    ) -> ArchiveResult:
        """Archive one batch of up to 500 leads: insert, update, then safely delete.

        Raises a ``LeadArchiveError`` subclass: Unauthenticated, OfficeHours, InvalidLeads
        (UnknownLeads for IDs not in vicidial_list) or ServerError (Unavailable once retries
        run out, Timeout).
        """
        request = archive_request(lead_ids, insert=insert, update=update, delete=delete)
        return call_with_retry(self._retry, self._timeout, lambda t: self._archive(request, t))

    def restore(self, lead_ids: Iterable[int]) -> RestoreResult:
        """Restore one batch of up to 500 archived leads: insert into vicidial_list each one
        it lacks, then delete from the archive each one whose vicidial_list row is identical.

        Office hours do not apply. Raises as ``archive``: Unauthenticated, InvalidLeads
        (UnknownLeads for IDs not in vicidial_list_archive) or ServerError.
        """
        request = restore_request(lead_ids)
        return call_with_retry(self._retry, self._timeout, lambda t: self._restore(request, t))

    def check_access(self, *, key_only: bool = False) -> str:
        """Return the key's API user; raise Unauthenticated or (unless key_only, which is
        what a restore checks) OfficeHours. Nothing changes."""
        request = pb.CheckAccessRequest(key_only=checked_flag("key_only", key_only))
        return call_with_retry(self._retry, self._timeout, lambda t: self._check_access(request, t))

    def _archive(self, request: pb.ArchiveLeadsRequest, limit_s: float) -> ArchiveResult:
        try:
            reply = self._stub.ArchiveLeads(request, timeout=limit_s, metadata=self._metadata)
        except grpc.RpcError as error:
            raise error_from_rpc(error, target=self.target) from None
        return result_from_reply(reply)

    def _restore(self, request: pb.RestoreLeadsRequest, limit_s: float) -> RestoreResult:
        try:
            reply = self._stub.RestoreLeads(request, timeout=limit_s, metadata=self._metadata)
        except grpc.RpcError as error:
            raise error_from_rpc(error, target=self.target) from None
        return restore_result_from_reply(reply)

    def _check_access(self, request: pb.CheckAccessRequest, limit_s: float) -> str:
        try:
            reply = self._stub.CheckAccess(request, timeout=limit_s, metadata=self._metadata)
        except grpc.RpcError as error:
            raise error_from_rpc(error, target=self.target) from None
        return reply.api_user

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()


class AsyncLeadArchiveClient(AsyncClosing):
    """Archive leads over gRPC with asyncio; the same arguments as ``LeadArchiveClient``.

    Create it inside a running event loop; many ``archive`` calls may be in flight at once
    on its one channel. Use ``async with``, or ``await close()``.
    """

    def __init__(
        self,
        target: str,
        api_key: str,
        *,
        tls: Tls = False,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = DEFAULT_RETRY,
        tls_server_name: str | None = None,
    ) -> None:
        credentials = _credentials(tls)
        self.target = target
        self._channel = (
            grpc.aio.secure_channel(target, credentials, options=_options(tls_server_name))
            if credentials
            else grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        )
        self._stub = pb_grpc.LeadArchiveServiceStub(self._channel)
        self._metadata = _metadata(api_key)
        self._timeout = timeout
        self._retry = retry

    async def archive(
        self,
        lead_ids: Iterable[int],
        *,
        insert: bool = True,
        update: bool = True,
        delete: bool = True,
    ) -> ArchiveResult:
        """Archive one batch of up to 500 leads; see ``LeadArchiveClient.archive``."""
        request = archive_request(lead_ids, insert=insert, update=update, delete=delete)
        return await call_with_retry_async(
            self._retry, self._timeout, lambda t: self._archive(request, t)
        )

    async def restore(self, lead_ids: Iterable[int]) -> RestoreResult:
        """Restore one batch of up to 500 archived leads; see ``LeadArchiveClient.restore``."""
        request = restore_request(lead_ids)
        return await call_with_retry_async(
            self._retry, self._timeout, lambda t: self._restore(request, t)
        )

    async def check_access(self, *, key_only: bool = False) -> str:
        """Return the key's API user; see ``LeadArchiveClient.check_access``."""
        request = pb.CheckAccessRequest(key_only=checked_flag("key_only", key_only))
        return await call_with_retry_async(
            self._retry, self._timeout, lambda t: self._check_access(request, t)
        )

    async def _archive(self, request: pb.ArchiveLeadsRequest, limit_s: float) -> ArchiveResult:
        try:
            reply = await self._stub.ArchiveLeads(request, timeout=limit_s, metadata=self._metadata)
        except grpc.RpcError as error:
            raise error_from_rpc(error, target=self.target) from None
        return result_from_reply(reply)

    async def _restore(self, request: pb.RestoreLeadsRequest, limit_s: float) -> RestoreResult:
        try:
            reply = await self._stub.RestoreLeads(request, timeout=limit_s, metadata=self._metadata)
        except grpc.RpcError as error:
            raise error_from_rpc(error, target=self.target) from None
        return restore_result_from_reply(reply)

    async def _check_access(self, request: pb.CheckAccessRequest, limit_s: float) -> str:
        try:
            reply = await self._stub.CheckAccess(request, timeout=limit_s, metadata=self._metadata)
        except grpc.RpcError as error:
            raise error_from_rpc(error, target=self.target) from None
        return reply.api_user

    async def close(self) -> None:
        """Close the channel (calls in flight are cancelled)."""
        await self._channel.close()
