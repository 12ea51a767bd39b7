"""The gRPC transport: ``LeadArchiveClient`` (blocking) and ``AsyncLeadArchiveClient``."""

from __future__ import annotations

from typing import Final

import grpc
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from lead_archive_client._base import DEFAULT_RETRY, DEFAULT_TIMEOUT_S, AsyncClient, Batch, Client
from lead_archive_client.errors import error_from_rpc
from lead_archive_client.model import Access, ArchiveResult, RestoreResult, checked_flag
from lead_archive_client.retry import RetryPolicy, call_with_retry, call_with_retry_async
from lead_archive_client.vocabulary import AUTHORIZATION_KEY, KEY_PREFIX

# A restarted server is found again within about a second, not after gRPC's default
# reconnect backoff of up to two minutes, which would outlast any sensible retry deadline.
CHANNEL_OPTIONS: Final = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
)

Tls = bool | grpc.ChannelCredentials


def archive_request(batch: Batch) -> pb.ArchiveLeadsRequest:
    """The request message for one batch."""
    return pb.ArchiveLeadsRequest(
        insert_leads=batch.insert,
        update_leads=batch.update,
        delete_leads=batch.delete,
        lead_ids=batch.lead_ids,
    )


def result_from_reply(reply: pb.ArchiveLeadsResponse) -> ArchiveResult:
    """The typed result of a successful call."""
    return ArchiveResult(
        select_count=reply.select_count,
        insert_count=reply.insert_count,
        update_count=reply.update_count,
        delete_count=reply.delete_count,
        kept_count=reply.kept_count,
        in_use_count=reply.in_use_count,
    )


def restore_result_from_reply(reply: pb.RestoreLeadsResponse) -> RestoreResult:
    """The typed result of a successful restore call."""
    return RestoreResult(
        select_count=reply.select_count,
        insert_count=reply.insert_count,
        delete_count=reply.delete_count,
        kept_count=reply.kept_count,
    )


def _check_access_request(key_only: bool, scope: str | None) -> pb.CheckAccessRequest:
    if scope is not None and not isinstance(scope, str):
        raise TypeError(f"scope must be a scope's name, got {scope!r}")
    return pb.CheckAccessRequest(key_only=checked_flag("key_only", key_only), scope=scope or "")


def access_from_reply(reply: pb.CheckAccessResponse) -> Access:
    """The typed answer of a successful CheckAccess."""
    return Access(api_user=reply.api_user, scopes=tuple(reply.scopes))


def _credentials(tls: Tls) -> grpc.ChannelCredentials | None:
    if isinstance(tls, grpc.ChannelCredentials):
        return tls
    return grpc.ssl_channel_credentials() if tls else None


Options = tuple[tuple[str, str | int], ...]


def _options(tls_server_name: str | None) -> Options:
    if tls_server_name:
        return (*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", tls_server_name))
    return CHANNEL_OPTIONS


def _metadata(api_key: str) -> tuple[tuple[str, str], ...]:
    return ((AUTHORIZATION_KEY, f"{KEY_PREFIX}{api_key}"),)


class _Channel:
    """The target, key and channel options of a gRPC client; `_connect` opens its kind."""

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
        super().__init__(timeout=timeout, retry=retry)  # type: ignore[call-arg]
        self.target = target
        self._metadata = _metadata(api_key)
        self._connect(target, _credentials(tls), _options(tls_server_name))

    def _connect(
        self, target: str, credentials: grpc.ChannelCredentials | None, options: Options
    ) -> None:
        """Open the channel and its stub."""
        raise NotImplementedError


class LeadArchiveClient(_Channel, Client):
    """Archive leads over gRPC, blocking; one channel for the client's lifetime.

    ``tls``: False for a plaintext channel, True for TLS checked against the system's CAs,
    or ``grpc.ssl_channel_credentials(...)`` for your own CA or client certificate;
    ``tls_server_name`` is the name the server's certificate must carry when it is not the
    host in ``target``.
    ``timeout`` bounds each attempt in seconds; ``retry`` says how long transient failures
    are retried (see ``lead_archive_client.retry``). Use it as a context manager, or call
    ``close()``.
    """

    def _connect(
        self, target: str, credentials: grpc.ChannelCredentials | None, options: Options
    ) -> None:
        self._channel = (
            grpc.secure_channel(target, credentials, options=options)
            if credentials
            else grpc.insecure_channel(target, options=options)
        )
        self._stub = pb_grpc.LeadArchiveServiceStub(self._channel)

    def check_access(self, *, key_only: bool = False, scope: str | None = None) -> Access:
        """Return the key's API user and scopes; raise Unauthenticated, ScopeMissing (when
        ``scope`` is given and the key lacks it) or (unless key_only, which is what a restore
        checks) OfficeHours. Nothing changes."""
        request = _check_access_request(key_only, scope)
        return call_with_retry(self._retry, self._timeout, lambda t: self._check_access(request, t))

    def _send_archive(self, batch: Batch, limit_s: float) -> ArchiveResult:
        try:
            reply = self._stub.ArchiveLeads(
                archive_request(batch), timeout=limit_s, metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise error_from_rpc(error, target=self.target) from None
        return result_from_reply(reply)

    def _send_restore(self, lead_ids: list[int], limit_s: float) -> RestoreResult:
        try:
            reply = self._stub.RestoreLeads(
                pb.RestoreLeadsRequest(lead_ids=lead_ids), timeout=limit_s, metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise error_from_rpc(error, target=self.target) from None
        return restore_result_from_reply(reply)

    def _check_access(self, request: pb.CheckAccessRequest, limit_s: float) -> Access:
        try:
            reply = self._stub.CheckAccess(request, timeout=limit_s, metadata=self._metadata)
        except grpc.RpcError as error:
            raise error_from_rpc(error, target=self.target) from None
        return access_from_reply(reply)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()


class AsyncLeadArchiveClient(_Channel, AsyncClient):
    """Archive leads over gRPC with asyncio; the same arguments as ``LeadArchiveClient``.

    Create it inside a running event loop; many ``archive`` calls may be in flight at once
    on its one channel. Use ``async with``, or ``await close()``.
    """

    def _connect(
        self, target: str, credentials: grpc.ChannelCredentials | None, options: Options
    ) -> None:
        self._channel = (
            grpc.aio.secure_channel(target, credentials, options=options)
            if credentials
            else grpc.aio.insecure_channel(target, options=options)
        )
        self._stub = pb_grpc.LeadArchiveServiceStub(self._channel)

    async def check_access(self, *, key_only: bool = False, scope: str | None = None) -> Access:
        """Return the key's API user and scopes; see ``LeadArchiveClient.check_access``."""
        request = _check_access_request(key_only, scope)
        return await call_with_retry_async(
            self._retry, self._timeout, lambda t: self._check_access(request, t)
        )

    async def _send_archive(self, batch: Batch, limit_s: float) -> ArchiveResult:
        try:
            reply = await self._stub.ArchiveLeads(
                archive_request(batch), timeout=limit_s, metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise error_from_rpc(error, target=self.target) from None
        return result_from_reply(reply)

    async def _send_restore(self, lead_ids: list[int], limit_s: float) -> RestoreResult:
        try:
            reply = await self._stub.RestoreLeads(
                pb.RestoreLeadsRequest(lead_ids=lead_ids), timeout=limit_s, metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise error_from_rpc(error, target=self.target) from None
        return restore_result_from_reply(reply)

    async def _check_access(self, request: pb.CheckAccessRequest, limit_s: float) -> Access:
        try:
            reply = await self._stub.CheckAccess(request, timeout=limit_s, metadata=self._metadata)
        except grpc.RpcError as error:
            raise error_from_rpc(error, target=self.target) from None
        return access_from_reply(reply)

    async def close(self) -> None:
        """Close the channel (calls in flight are cancelled)."""
        await self._channel.close()
