"""The REST transport, for callers who can only reach HTTP: blocking and asyncio."""

from __future__ import annotations

import ssl

import httpx

from lead_archive_client._base import DEFAULT_RETRY, DEFAULT_TIMEOUT_S, AsyncClient, Batch, Client
from lead_archive_client.errors import ServerError, error_from_http, error_from_transport
from lead_archive_client.model import ArchiveResult, RestoreResult
from lead_archive_client.retry import RetryPolicy
from lead_archive_client.vocabulary import (
    ARCHIVE_PATH,
    COUNT_FIELDS,
    KEY_PREFIX,
    REASON_HEADER,
    RESTORE_COUNT_FIELDS,
    RESTORE_PATH,
    Scope,
)

Verify = bool | ssl.SSLContext
JsonBody = dict[str, object]


def archive_body(batch: Batch) -> JsonBody:
    """The documented JSON request for one batch."""
    return {
        "insert_leads": batch.insert,
        "update_leads": batch.update,
        "delete_leads": batch.delete,
        "lead_ids": batch.lead_ids,
    }


def result_from_response(response: httpx.Response, *, delete: bool) -> ArchiveResult:
    """The typed result of a 200, or the typed error of any other answer.

    The documented 200 body has no kept count; the server's is ``select - delete`` when the
    batch deletes (every requested lead that was read and not deleted was kept), else 0.
    REST cannot tell leads kept for the dialer from the others: all are in ``kept_count``.
    """
    select, insert, update, deleted = _counts(response, COUNT_FIELDS, Scope.ARCHIVE)
    kept = select - deleted if delete else 0
    return ArchiveResult(select, insert, update, deleted, kept)


def restore_result_from_response(response: httpx.Response) -> RestoreResult:
    """The typed result of a restore's 200 (kept is ``select - delete``, as the server's),
    or the typed error of any other answer."""
    select, insert, deleted = _counts(response, RESTORE_COUNT_FIELDS, Scope.RESTORE)
    return RestoreResult(select, insert, deleted, select - deleted)


def _counts(response: httpx.Response, names: tuple[str, ...], scope: Scope) -> list[int]:
    """The documented counts of a 200, or the typed error of any other answer (a refusal
    for want of a scope names the one the call needed)."""
    url = str(response.request.url)
    if response.status_code != 200:
        raise error_from_http(
            response.status_code,
            response.content,
            url=url,
            reason_header=response.headers.get(REASON_HEADER),
            scope=scope,
        )
    try:
        body = response.json()
        counts = [body[name] for name in names]
    except (ValueError, TypeError, KeyError):
        counts = []
    if len(counts) != len(names) or not all(type(c) is int for c in counts):
        raise ServerError(f"HTTP 200 from {url} without the documented counts: {response.text!r}")
    return counts


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"{KEY_PREFIX}{api_key}", "Content-Type": "application/json"}


class RestLeadArchiveClient(Client):
    """Archive leads through the REST shim, blocking; one keep-alive connection pool.

    ``base_url`` is the shim's address, e.g. ``https://archive.example:8080`` (https means
    TLS); ``verify`` is True (system CAs), False, or an ``ssl.SSLContext`` with your CA.
    ``timeout`` and ``retry`` work as in ``LeadArchiveClient``: connection failures and the
    service's own Unavailable reasons are retried, any other 500 is not.
    ``transport`` replaces httpx's own, e.g. for tests.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        verify: Verify = True,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(timeout=timeout, retry=retry)
        self.base_url = base_url
        self._http = httpx.Client(
            base_url=base_url, headers=_headers(api_key), verify=verify, transport=transport
        )

    def _send_archive(self, batch: Batch, limit_s: float) -> ArchiveResult:
        response = self._post(ARCHIVE_PATH, archive_body(batch), limit_s)
        return result_from_response(response, delete=batch.delete)

    def _send_restore(self, lead_ids: list[int], limit_s: float) -> RestoreResult:
        response = self._post(RESTORE_PATH, {"lead_ids": lead_ids}, limit_s)
        return restore_result_from_response(response)

    def _post(self, path: str, body: JsonBody, limit_s: float) -> httpx.Response:
        try:
            return self._http.post(path, json=body, timeout=limit_s)
        except httpx.TransportError as error:
            raise error_from_transport(error, url=str(self._http.base_url.join(path))) from None

    def close(self) -> None:
        """Close the connections."""
        self._http.close()


class AsyncRestLeadArchiveClient(AsyncClient):
    """Archive leads through the REST shim with asyncio; arguments as ``RestLeadArchiveClient``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        verify: Verify = True,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(timeout=timeout, retry=retry)
        self.base_url = base_url
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key), verify=verify, transport=transport
        )

    async def _send_archive(self, batch: Batch, limit_s: float) -> ArchiveResult:
        response = await self._post(ARCHIVE_PATH, archive_body(batch), limit_s)
        return result_from_response(response, delete=batch.delete)

    async def _send_restore(self, lead_ids: list[int], limit_s: float) -> RestoreResult:
        response = await self._post(RESTORE_PATH, {"lead_ids": lead_ids}, limit_s)
        return restore_result_from_response(response)

    async def _post(self, path: str, body: JsonBody, limit_s: float) -> httpx.Response:
        try:
            return await self._http.post(path, json=body, timeout=limit_s)
        except httpx.TransportError as error:
            raise error_from_transport(error, url=str(self._http.base_url.join(path))) from None

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()
