"""The floor: the server's own set-based statements for a full archive, over one connection.

The statements come from server/sql.py, so the floor follows the real SQL. For a batch of fresh
leads the server runs the insert and the compare-before-delete (the update phase has no lead
that was archived before, so the server skips it, and so does the floor), inside one
transaction. The column list is read once, not per batch: the floor is what the database alone
needs, with no service, no validation and no schema read in between.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from lead_archive_server.core import sql
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database, Session
from lead_archive_server.core.schema import read_archive_schema


class Floor:
    """One plain connection that archives batches with the server's SQL and nothing else."""

    def __init__(self, session: Session, columns: Sequence[str]) -> None:
        self.session = session
        self._columns = tuple(columns)

    async def archive(self, lead_ids: Sequence[int]) -> float:
        """Archive fresh leads; return the milliseconds it took. Checks the row counts."""
        count = len(lead_ids)
        insert = sql.insert_missing(self._columns, count)
        delete = sql.delete_archived(self._columns, count)
        started = time.perf_counter()
        async with self.session.transaction():
            inserted = await self.session.execute(insert, lead_ids)
            deleted = await self.session.execute(delete, lead_ids)
        elapsed = (time.perf_counter() - started) * 1000
        if (inserted, deleted) != (count, count):
            raise AssertionError(f"floor: inserted {inserted}, deleted {deleted} of {count}")
        return elapsed

    async def archive_steps(self, lead_ids: Sequence[int]) -> dict[str, float]:
        """The same batch, each statement timed (ms): begin, insert, delete, commit."""
        count = len(lead_ids)
        steps: dict[str, float] = {}
        statements = (
            ("begin", "BEGIN", ()),
            ("insert", sql.insert_missing(self._columns, count), lead_ids),
            ("delete", sql.delete_archived(self._columns, count), lead_ids),
            ("commit", "COMMIT", ()),
        )
        for step, statement, args in statements:
            started = time.perf_counter()
            changed = await self.session.execute(statement, args)
            steps[step] = (time.perf_counter() - started) * 1000
            if args and changed != count:
                raise AssertionError(f"floor: {step} changed {changed} of {count}")
        return steps


@asynccontextmanager
async def open_floor(url: DatabaseUrl) -> AsyncIterator[Floor]:
    """One connection for the whole run, with the column list read once."""
    db = await Database.connect(url, pool_size=1)
    try:
        async with db.session() as session:
            schema = await read_archive_schema(session)
            schema.require_exact_copy()
            yield Floor(session, schema.columns)
    finally:
        await db.close()
