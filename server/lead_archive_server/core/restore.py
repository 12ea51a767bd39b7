"""The way back: bring archived leads into vicidial_list again, losing none (CONTRACT 8).

A restore batch is an archive batch with the tables swapped, run by the same machinery
(archive.locked_batch: the one batch lock, the transaction, the membership read, both
tables' definitions; archive.with_retries; sql's builders with sql.RESTORING):

1. insert into vicidial_list each requested lead whose lead_id is not there, every column
   copied as it is in the archive (modify_date included);
2. delete from the archive each requested lead whose vicidial_list row is now identical in
   every column (NULL-safe and byte for byte).

A lead already in vicidial_list with other data is left in both tables, untouched. On
MyISAM the order is what keeps a lead safe if the process dies between the two statements:
the insert never removes anything, and the delete removes only a row that has an identical
copy in vicidial_list. On InnoDB the batch is one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lead_archive_client.model import RestoreResult

from lead_archive_server.core import sql
from lead_archive_server.core.archive import (
    SCHEMAS,
    CommitNote,
    LeadsFound,
    batch_lead_ids,
    checked_columns,
    locked_batch,
    with_retries,
)
from lead_archive_server.core.db import Database, Session
from lead_archive_server.core.schema import SchemaCache
from lead_archive_server.core.steps import Step, run_steps, step_if


@dataclass(frozen=True)
class RestoreBatch:
    """A restore request that passed the field checks: distinct lead IDs."""

    lead_ids: tuple[int, ...]

    @classmethod
    def validated(cls, lead_ids: Sequence[int]) -> RestoreBatch:
        """Apply the archive's lead_ids checks in their order; the first failure is raised.

        There are no flags to check, and existence ("does not exist": not in the archive) is
        checked under the batch lock.
        """
        return cls(batch_lead_ids(lead_ids))


async def restore_leads(
    db: Database,
    batch: RestoreBatch,
    *,
    attempts: int = 5,
    schemas: SchemaCache | None = None,
    range_locks: bool = False,
    note: CommitNote[RestoreResult] | None = None,
) -> RestoreResult:
    """Restore one batch; a deadlock rolls back the whole batch and it runs again. With
    `range_locks` it locks its ranges of lead IDs, as archive batches do (archive.batch_lock).
    A `note` (the audit row) is written with the batch's COMMIT (see archive.CommitNote)."""

    async def attempt(session: Session) -> RestoreResult:
        async with locked_batch(
            session, batch.lead_ids, sql.RESTORING, ranges=range_locks
        ) as locked:
            result = await _restore(session, batch, schemas or SCHEMAS, locked.leads)
            locked.write_with_commit(note, result)
        locked.committed(note)
        return result

    return await with_retries(db, attempts, attempt)


async def _restore(
    session: Session,
    batch: RestoreBatch,
    schemas: SchemaCache,
    leads: LeadsFound,
) -> RestoreResult:
    """Validate existence in the archive, then insert and compare-delete, set-based (sent
    together: see steps)."""
    columns = await checked_columns(session, leads, schemas, restoring=True)
    absent = [lead_id for lead_id in batch.lead_ids if lead_id not in leads.in_target]
    count = len(batch.lead_ids)
    steps = (
        step_if("insert", True, sql.insert_missing(columns, len(absent), sql.RESTORING), absent),
        Step("delete", sql.delete_archived(columns, count, sql.RESTORING), batch.lead_ids),
    )
    inserted, deleted = await run_steps(session, steps)
    selected = len(batch.lead_ids)
    return RestoreResult(
        select_count=selected,
        insert_count=inserted,
        delete_count=deleted,
        kept_count=selected - deleted,
    )
