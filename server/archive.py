"""The archive itself: validate a batch, then insert, update and safely delete it.

Plain async functions over a Database; nothing here knows about gRPC or HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass

from server import sql
from server.db import Database, Session, TransientConflict
from server.errors import (
    MAX_LEADS_PER_BATCH,
    DeleteLeadsNotBoolean,
    DuplicateLeadIds,
    InsertLeadsNotBoolean,
    NoLeadIds,
    TooManyLeadIds,
    UnknownLeadIds,
    UpdateLeadsNotBoolean,
)
from server.phases import phase
from server.schema import read_archive_schema

log = logging.getLogger(__name__)

BATCH_LOCK_TIMEOUT_S = 30

# Test seam: awaited after each step of a batch with the step's name ("schema", "checked",
# "insert", "update", "delete") and the batch's session, so fault tests can kill the
# connection or change the schema at an exact point. Production code never passes one.
StepHook = Callable[[str, Session], Awaitable[None]]


async def _no_hook(step: str, session: Session) -> None:
    """The default: go straight on."""


@dataclass(frozen=True)
class ArchiveBatch:
    """A request that passed the field checks: flags and distinct lead IDs."""

    insert: bool
    update: bool
    delete: bool
    lead_ids: tuple[int, ...]

    @classmethod
    def validated(
        cls,
        *,
        insert: bool | None,
        update: bool | None,
        delete: bool | None,
        lead_ids: Sequence[int],
    ) -> ArchiveBatch:
        """Apply the documented field checks in order; the first failure is raised."""
        if insert is None:
            raise InsertLeadsNotBoolean()
        if update is None:
            raise UpdateLeadsNotBoolean()
        if delete is None:
            raise DeleteLeadsNotBoolean()
        if not lead_ids:
            raise NoLeadIds()
        if len(lead_ids) > MAX_LEADS_PER_BATCH:
            raise TooManyLeadIds()
        duplicates = [lead_id for lead_id, seen in Counter(lead_ids).items() if seen > 1]
        if duplicates:
            raise DuplicateLeadIds(duplicates)
        return cls(insert, update, delete, tuple(lead_ids))


@dataclass(frozen=True)
class ArchiveResult:
    """What one batch read and changed."""

    select_count: int = 0
    insert_count: int = 0
    update_count: int = 0
    delete_count: int = 0
    kept_count: int = 0


async def archive_leads(
    db: Database, batch: ArchiveBatch, *, attempts: int = 5, after_step: StepHook = _no_hook
) -> ArchiveResult:
    """Archive one batch; a deadlock rolls back the whole batch and it runs again."""
    for attempt in range(1, attempts + 1):
        try:
            async with db.session() as session:
                return await _archive_locked(session, batch, after_step)
        except TransientConflict:
            if attempt == attempts:
                raise
            log.info("lock conflict on attempt %d, retrying the batch", attempt)
            await asyncio.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


async def _archive_locked(
    session: Session, batch: ArchiveBatch, after_step: StepHook
) -> ArchiveResult:
    """Run the batch alone: one batch at a time per database, inside one transaction."""
    async with AsyncExitStack() as stack:
        with phase("lock"):  # time spent queueing behind other batches
            await stack.enter_async_context(
                session.named_lock(
                    sql.ACQUIRE_BATCH_LOCK, sql.RELEASE_BATCH_LOCK, BATCH_LOCK_TIMEOUT_S
                )
            )
        await stack.enter_async_context(session.transaction())
        return await _archive(session, batch, after_step)


async def _archive(session: Session, batch: ArchiveBatch, after_step: StepHook) -> ArchiveResult:
    """Validate existence, then insert, update and delete, each one set-based statement."""
    with phase("schema"):
        (await read_archive_schema(session)).require_tables()
    await after_step("schema", session)
    with phase("select"):
        archived = await _archived_by_lead(session, batch.lead_ids)
    missing = [lead_id for lead_id in batch.lead_ids if lead_id not in archived]
    if missing:
        raise UnknownLeadIds(missing)
    # Read the columns again: the query above opened both tables inside the transaction, so
    # the batch now holds their metadata locks and no ALTER can land before COMMIT. A column
    # list read earlier could miss a column added since, and the delete would not compare it.
    schema = await read_archive_schema(session)
    schema.require_exact_copy()
    await after_step("checked", session)
    columns = schema.columns
    new = [lead_id for lead_id in batch.lead_ids if not archived[lead_id]]
    old = [lead_id for lead_id in batch.lead_ids if archived[lead_id]]
    inserted = await _run(
        session, "insert", batch.insert, sql.insert_missing(columns, len(new)), new
    )
    await after_step("insert", session)
    updated = await _run(
        session, "update", batch.update, sql.update_archived(columns, len(old)), old
    )
    await after_step("update", session)
    deleted = await _run(
        session,
        "delete",
        batch.delete,
        sql.delete_archived(columns, len(batch.lead_ids)),
        batch.lead_ids,
    )
    await after_step("delete", session)
    return ArchiveResult(
        select_count=len(archived),
        insert_count=inserted,
        update_count=updated,
        delete_count=deleted,
        kept_count=len(archived) - deleted if batch.delete else 0,
    )


async def _archived_by_lead(session: Session, lead_ids: Sequence[int]) -> dict[int, bool]:
    """For each requested lead in vicidial_list: is it in the archive already?"""
    rows = await session.fetch_all(sql.select_membership(len(lead_ids)), lead_ids)
    return {int(lead_id): bool(archived) for lead_id, archived in rows}


async def _run(
    session: Session, name: str, enabled: bool, statement: str, lead_ids: Sequence[int]
) -> int:
    """Run one phase's statement when its flag is set and it has leads to touch."""
    if not enabled or not lead_ids:
        return 0
    with phase(name):
        return await session.execute(statement, lead_ids)
