"""One bulk run: which leads it takes (its source of lead IDs) and how it sends them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lead_archive_client import MAX_LEADS_PER_BATCH

from lead_archive_server.bulk.errors import JobError
from lead_archive_server.bulk.selection import (
    LeadSource,
    ListedLeads,
    Selection,
    refuse_beside_listed_ids,
    select,
)
from lead_archive_server.core import sql
from lead_archive_server.core.db import Database

MAX_CONCURRENCY = 32
# Batches a bulk run keeps in flight unless told (--concurrency), by the service's
# LEAD_ARCHIVE_BATCH_LOCKS, measured with bench/in_flight.py (docs/performance.md): under the
# database's lock one batch is queued when another ends; under range locks on InnoDB, 8 move
# the most leads (16 no more, and the pool has 8 connections).
IN_FLIGHT = {"database": 4, "ranges": 8}
MAX_SLEEP_S = 3600


@dataclass(frozen=True)
class Job:
    """One run of ``lead-archive archive`` (or ``restore``): which leads, how to send them."""

    selection: Selection = field(default_factory=Selection)
    lead_ids: Sequence[int] | None = None  # from --ids-from: sorted, distinct
    delete: bool = True
    dry_run: bool = False
    batch_size: int = MAX_LEADS_PER_BATCH
    concurrency: int = IN_FLIGHT["database"]
    flow: sql.Flow = sql.ARCHIVING  # sql.RESTORING for `lead-archive restore`
    sleep_s: float = 0.0  # between batches (--sleep)
    optimize: bool = False  # OPTIMIZE TABLE on the source table at the end

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_LEADS_PER_BATCH:
            raise JobError(f"--batch-size must be 1 to {MAX_LEADS_PER_BATCH}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise JobError(f"--concurrency must be 1 to {MAX_CONCURRENCY}")
        if self.lead_ids is not None:
            refuse_beside_listed_ids(self.selection.given)
        if not 0 <= self.sleep_s <= MAX_SLEEP_S:
            raise JobError(f"--sleep must be 0 to {MAX_SLEEP_S} seconds")

    @property
    def restoring(self) -> bool:
        """Whether the job brings leads back from the archive."""
        return self.flow == sql.RESTORING

    @property
    def verb(self) -> str:
        """What the job does to each lead: archive, or restore."""
        return "restore" if self.restoring else "archive"

    def describe(self) -> str:
        """What the job takes, in one line."""
        if self.lead_ids is not None:
            return f"{len(self.lead_ids)} lead IDs from the list given"
        return self.selection.describe(self.flow.source)


async def open_source(db: Database, job: Job) -> LeadSource:
    """The leads a job takes, counted: the IDs it lists, else those its selection matches."""
    if job.lead_ids is not None:
        return ListedLeads(job.lead_ids, job.batch_size)
    return await select(db, job.selection, job.batch_size, job.flow.source)
