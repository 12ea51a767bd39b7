"""`lead-archive verify`: a read-only check that the archive agrees with vicidial_list.

It lists leads present in both tables whose data differs (by the safe delete's own byte-exact,
NULL-safe comparison) and every difference between the two tables' columns. Set-based: one
pass compares the leads found in both tables, counting and naming the first differing ones
at once; the other queries are counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from lead_archive_server.core import sql
from lead_archive_server.core.db import Database, Session
from lead_archive_server.core.schema import (
    TableShape,
    copy_blockers,
    extra_columns,
    read_table_shapes,
)

DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class VerifyReport:
    """What verify found; `clean` when there is nothing an operator must look at."""

    leads: int
    archived: int
    in_both: int
    differing: int
    first_differing: tuple[int, ...]
    drift: tuple[str, ...]
    compared_columns: int
    # Of `differing`: leads vicidial_list changed after they were archived (a later
    # modify_date, or a later call where modify_date does not move), normal after
    # --no-delete or a kept lead; the live row is the real one.
    changed_since: int = 0
    # Whether the server bumps vicidial_list.modify_date on every UPDATE. Vicidial's own
    # install on MariaDB 10.10+ leaves a bare TIMESTAMP that does not move: then only a
    # later call (last_local_call_time, called_count) tells a change after archiving.
    modify_date_moves: bool = True

    @property
    def clean(self) -> bool:
        """The two tables have the same columns, and every lead that differs is one the
        dialer changed after it was archived."""
        return self.differing == self.changed_since and not self.drift

    @property
    def unexplained(self) -> int:
        """Leads whose copy differs though vicidial_list did not change after archiving."""
        return self.differing - self.changed_since

    @property
    def identical_in_both(self) -> int:
        """Leads archived exactly but still in vicidial_list: rerunning the batch deletes them."""
        return self.in_both - self.differing


async def verify(db: Database, *, limit: int = DEFAULT_LIMIT) -> VerifyReport:
    """Compare both tables without changing either."""
    async with db.session() as session:
        await session.execute(sql.BEGIN_READ_ONLY)
        try:
            return await _verify(session, limit)
        finally:
            await session.execute("COMMIT")


async def _verify(session: Session, limit: int) -> VerifyReport:
    leads, archive = await read_table_shapes(session)
    drift = (*copy_blockers(leads, archive), *extra_columns(leads, archive))
    if not (leads.columns and archive.columns):
        return VerifyReport(0, 0, 0, 0, (), drift, 0)
    columns = _common_columns(leads, archive)
    moves = await _modify_date_moves(session)
    later = sql.changed_after_archiving(columns, moves)
    rows = await session.fetch_all(sql.differing_leads(columns, limit, later))
    return VerifyReport(
        leads=await _count(session, sql.COUNT_LEADS),
        archived=await _count(session, sql.COUNT_ARCHIVE),
        in_both=await _count(session, sql.COUNT_IN_BOTH),
        differing=int(rows[0][1]) if rows else 0,
        first_differing=tuple(int(row[0]) for row in rows[:limit]),
        drift=drift,
        compared_columns=len(columns),
        changed_since=int(rows[0][2] or 0) if rows else 0,
        modify_date_moves=moves,
    )


async def _modify_date_moves(session: Session) -> bool:
    """Whether vicidial_list.modify_date is bumped by the server on every UPDATE."""
    rows = await session.fetch_all(sql.COLUMN_EXTRA, (sql.LEADS, "modify_date"))
    return bool(rows) and "on update" in str(rows[0][0]).lower()


def _common_columns(leads: TableShape, archive: TableShape) -> list[str]:
    """vicidial_list's columns that the archive has too (all of them, without drift)."""
    archived = {c.name for c in archive.columns}
    return [c.name for c in leads.columns if c.name in archived]


async def _count(session: Session, statement: str) -> int:
    return int((await session.fetch_all(statement))[0][0])
