"""The same client over the REST shim, for callers who can only reach HTTP: sync and asyncio."""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Final

import httpx

from lead_archive_client._closing import AsyncClosing, Closing
from lead_archive_client.errors import ServerError, error_from_http, error_from_transport
from lead_archive_client.model import (
    ArchiveResult,
    RestoreResult,
    checked_flag,
    checked_lead_ids,
)
from lead_archive_client.retry import RetryPolicy, call_with_retry, call_with_retry_async

ARCHIVE_PATH: Final = "/vicidial/leads/archive"
RESTORE_PATH: Final = "/vicidial/leads/restore"
DEFAULT_TIMEOUT_S: Final = 60.0
DEFAULT_RETRY: Final = RetryPolicy()
_COUNTS: Final = ("select_count", "insert_count", "update_count", "delete_count")
_RESTORE_COUNTS: Final = ("select_count", "insert_count", "delete_count")

Verify = bool | ssl.SSLContext
JsonBody = dict[str, object]


def archive_body(lead_ids: Iterable[int], *, insert: bool, update: bool, delete: bool) -> JsonBody:
    """The documented JSON request for one batch."""
    return {
        "insert_leads": checked_flag("insert", insert),
        "update_leads": checked_flag("update", update),
        "delete_leads": checked_flag("delete", delete),
        "lead_ids": checked_lead_ids(lead_ids),
    }


def result_from_response(response: httpx.Response, *, delete: bool) -> ArchiveResult:
    """The typed result of a 200, or the typed error of any other answer.

    The documented 200 body has no kept count; the server's is ``select - delete`` when the
    batch deletes (every requested lead that was read and not deleted was kept), else 0.
    """
    select, insert, update, deleted = _counts(response, _COUNTS)
    kept = select - deleted if delete else 0
    return ArchiveResult(select, insert, update, deleted, kept)


def restore_result_from_response(response: httpx.Response) -> RestoreResult:
    """The typed result of a restore's 200 (kept is ``select - delete``, as the server's)."""
    select, insert, deleted = _counts(response, _RESTORE_COUNTS)
    return RestoreResult(select, insert, deleted, select - deleted)


def _counts(response: httpx.Response, names: tuple[str, ...]) -> list[int]:
    """The documented counts of a 200, or the typed error of any other answer."""
    url = str(response.request.url)
    if response.status_code != 200:
        raise error_from_http(response.status_code, response.content, url=url)
    try:
        body = response.json()
        counts = [body[name] for name in names]
    except (ValueError, TypeError, KeyError):
        counts = []
    if len(counts) != len(names) or not all(type(c) is int for c in counts):
        raise ServerError(f"HTTP 200 from {url} without the documented counts: {response.text!r}")
    return counts


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Key={api_key}", "Content-Type": "application/json"}


class RestLeadArchiveClient(Closing):
    """Archive leads through the REST shim, blocking; one keep-alive connection pool.

    ``base_url`` is the shim's address, e.g. ``https://archive.example:8080`` (https means
    TLS); ``verify`` is True (system CAs), False, or an ``ssl.SSLContext`` with your CA.
    ``timeout`` and ``retry`` work as in ``LeadArchiveClient``; only connection failures
    are retried (a 500 is not: the REST answer cannot say whether the batch ran).
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
        self.base_url = base_url
        self._http = httpx.Client(
            base_url=base_url, headers=_headers(api_key), verify=verify, transport=transport
        )
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
        """Archive one batch of up to 500 leads; raises as ``LeadArchiveClient.archive``."""
        body = archive_body(lead_ids, insert=insert, update=update, delete=delete)
        return call_with_retry(
            self._retry, self._timeout, lambda t: self._archive(body, t, delete=delete)
        )

    def restore(self, lead_ids: Iterable[int]) -> RestoreResult:
        """Restore one batch of up to 500 archived leads; raises as ``archive``."""
        body: JsonBody = {"lead_ids": checked_lead_ids(lead_ids)}
        return call_with_retry(self._retry, self._timeout, lambda t: self._restore(body, t))

    def _archive(self, body: JsonBody, limit_s: float, *, delete: bool) -> ArchiveResult:
        return result_from_response(self._post(ARCHIVE_PATH, body, limit_s), delete=delete)

    def _restore(self, body: JsonBody, limit_s: float) -> RestoreResult:
        return restore_result_from_response(self._post(RESTORE_PATH, body, limit_s))

    def _post(self, path: str, body: JsonBody, limit_s: float) -> httpx.Response:
        try:
            return self._http.post(path, json=body, timeout=limit_s)
        except httpx.TransportError as error:
            raise error_from_transport(error, url=str(self._http.base_url.join(path))) from None

    def close(self) -> None:
        """Close the connections."""
        self._http.close()


class AsyncRestLeadArchiveClient(AsyncClosing):
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
        self.base_url = base_url
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key), verify=verify, transport=transport
        )
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
        """Archive one batch of up to 500 leads; raises as ``LeadArchiveClient.archive``."""
        body = archive_body(lead_ids, insert=insert, update=update, delete=delete)
        return await call_with_retry_async(
            self._retry, self._timeout, lambda t: self._archive(body, t, delete=delete)
        )

    async def restore(self, lead_ids: Iterable[int]) -> RestoreResult:
        """Restore one batch of up to 500 archived leads; raises as ``archive``."""
        body: JsonBody = {"lead_ids": checked_lead_ids(lead_ids)}
        return await call_with_retry_async(
            self._retry, self._timeout, lambda t: self._restore(body, t)
        )

    async def _archive(self, body: JsonBody, limit_s: float, *, delete: bool) -> ArchiveResult:
        return result_from_response(await self._post(ARCHIVE_PATH, body, limit_s), delete=delete)

    async def _restore(self, body: JsonBody, limit_s: float) -> RestoreResult:
        return restore_result_from_response(await self._post(RESTORE_PATH, body, limit_s))

    async def _post(self, path: str, body: JsonBody, limit_s: float) -> httpx.Response:
        try:
            return await self._http.post(path, json=body, timeout=limit_s)
        except httpx.TransportError as error:
            raise error_from_transport(error, url=str(self._http.base_url.join(path))) from None

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()
