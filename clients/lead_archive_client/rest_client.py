"""The REST transport, for callers who can only reach HTTP: blocking and asyncio."""

from __future__ import annotations

import ssl
from typing import Final

import httpx

from lead_archive_client._base import DEFAULT_RETRY, DEFAULT_TIMEOUT_S, AsyncClient, Batch, Client
from lead_archive_client.errors import ServerError, error_from_http, error_from_transport
from lead_archive_client.model import ArchiveResult
from lead_archive_client.retry import RetryPolicy
from lead_archive_client.vocabulary import COUNT_FIELDS, KEY_PREFIX, REASON_HEADER

ARCHIVE_PATH: Final = "/vicidial/leads/archive"

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
    """
    url = str(response.request.url)
    if response.status_code != 200:
        raise error_from_http(
            response.status_code,
            response.content,
            url=url,
            reason_header=response.headers.get(REASON_HEADER),
        )
    try:
        body = response.json()
        counts = [body[name] for name in COUNT_FIELDS]
    except (ValueError, TypeError, KeyError):
        counts = []
    if len(counts) != len(COUNT_FIELDS) or not all(type(c) is int for c in counts):
        raise ServerError(f"HTTP 200 from {url} without the documented counts: {response.text!r}")
    select, insert, update, deleted = counts
    kept = select - deleted if delete else 0
    return ArchiveResult(select, insert, update, deleted, kept)


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
        self._url = str(self._http.base_url.join(ARCHIVE_PATH))

    def _send_archive(self, batch: Batch, limit_s: float) -> ArchiveResult:
        try:
            response = self._http.post(ARCHIVE_PATH, json=archive_body(batch), timeout=limit_s)
        except httpx.TransportError as error:
            raise error_from_transport(error, url=self._url) from None
        return result_from_response(response, delete=batch.delete)

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
        self._url = str(self._http.base_url.join(ARCHIVE_PATH))

    async def _send_archive(self, batch: Batch, limit_s: float) -> ArchiveResult:
        try:
            response = await self._http.post(
                ARCHIVE_PATH, json=archive_body(batch), timeout=limit_s
            )
        except httpx.TransportError as error:
            raise error_from_transport(error, url=self._url) from None
        return result_from_response(response, delete=batch.delete)

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()
