"""What the four clients share, written once: checked requests, retries, ``with`` support.

``Client`` (blocking) and ``AsyncClient`` (asyncio) hold the public methods; the gRPC and
REST subclasses only move a checked batch over their transport (``_send_archive``,
``_send_restore``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

from lead_archive_client.model import (
    ArchiveResult,
    RestoreResult,
    checked_flag,
    sendable_lead_ids,
)
from lead_archive_client.retry import RetryPolicy, call_with_retry, call_with_retry_async

DEFAULT_TIMEOUT_S: Final = 60.0
DEFAULT_RETRY: Final = RetryPolicy()


@dataclass(frozen=True, slots=True)
class Batch:
    """One archive request whose values every transport can carry."""

    lead_ids: list[int]
    insert: bool
    update: bool
    delete: bool

    @classmethod
    def checked(cls, lead_ids: Iterable[int], *, insert: bool, update: bool, delete: bool) -> Batch:
        """Refuse values no request can carry (see model.sendable_lead_ids)."""
        return cls(
            sendable_lead_ids(lead_ids),
            checked_flag("insert", insert),
            checked_flag("update", update),
            checked_flag("delete", delete),
        )


class Client(ABC):
    """A blocking client: ``with Client(...) as client:`` closes it on the way out."""

    def __init__(self, *, timeout: float, retry: RetryPolicy) -> None:
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

        Raises a ``LeadArchiveError`` subclass: Unauthenticated (ScopeMissing for a key
        without the ``archive`` scope), OfficeHours, InvalidLeads (UnknownLeads for IDs not in
        vicidial_list) or ServerError (Unavailable once retries run out, Timeout).
        """
        batch = Batch.checked(lead_ids, insert=insert, update=update, delete=delete)
        return call_with_retry(self._retry, self._timeout, lambda t: self._send_archive(batch, t))

    def restore(self, lead_ids: Iterable[int]) -> RestoreResult:
        """Restore one batch of up to 500 archived leads: insert into vicidial_list each one
        it lacks, then delete from the archive each one whose vicidial_list row is identical
        (a lead live with other data stays in both tables, untouched).

        Office hours do not apply. Raises as ``archive``: Unauthenticated (ScopeMissing for a
        key without the ``restore`` scope), InvalidLeads (UnknownLeads for IDs not in
        vicidial_list_archive) or ServerError.
        """
        checked = sendable_lead_ids(lead_ids)
        return call_with_retry(self._retry, self._timeout, lambda t: self._send_restore(checked, t))

    @abstractmethod
    def _send_archive(self, batch: Batch, limit_s: float) -> ArchiveResult:
        """One attempt, within limit_s seconds."""

    @abstractmethod
    def _send_restore(self, lead_ids: list[int], limit_s: float) -> RestoreResult:
        """One attempt, within limit_s seconds."""

    @abstractmethod
    def close(self) -> None:
        """Release the client's connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(ABC):
    """An asyncio client: ``async with Client(...) as client:`` closes it on the way out."""

    def __init__(self, *, timeout: float, retry: RetryPolicy) -> None:
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
        batch = Batch.checked(lead_ids, insert=insert, update=update, delete=delete)
        return await call_with_retry_async(
            self._retry, self._timeout, lambda t: self._send_archive(batch, t)
        )

    async def restore(self, lead_ids: Iterable[int]) -> RestoreResult:
        """Restore one batch of up to 500 archived leads; see ``LeadArchiveClient.restore``."""
        checked = sendable_lead_ids(lead_ids)
        return await call_with_retry_async(
            self._retry, self._timeout, lambda t: self._send_restore(checked, t)
        )

    @abstractmethod
    async def _send_archive(self, batch: Batch, limit_s: float) -> ArchiveResult:
        """One attempt, within limit_s seconds."""

    @abstractmethod
    async def _send_restore(self, lead_ids: list[int], limit_s: float) -> RestoreResult:
        """One attempt, within limit_s seconds."""

    @abstractmethod
    async def close(self) -> None:
        """Release the client's connections."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
