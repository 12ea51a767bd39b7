"""CONTRACT.md section 3's invariant, checked over every lead.

Every lead that existed is either still in vicidial_list with exactly its last data, or in
vicidial_list_archive with exactly the data it last had in vicidial_list. The test keeps a
`Ledger` of that last data: a snapshot at the start, plus every write the test itself made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lead_archive_server.core.db import Database

from tests.support import ARCHIVE, LEADS

Row = tuple[Any, ...]


async def table_rows(db: Database, table: str) -> dict[int, Row]:
    """Every row of a table keyed by lead_id (SELECT *: whatever columns it has now)."""
    async with db.session() as session:
        rows = await session.fetch_all(f"SELECT * FROM {table}")
    return {int(row[0]): tuple(row) for row in rows}


@dataclass
class Ledger:
    """The last data each lead had in vicidial_list, as far as the test knows."""

    last: dict[int, Row] = field(default_factory=dict)

    @classmethod
    async def snapshot(cls, db: Database) -> Ledger:
        """Start from what vicidial_list holds now."""
        return cls(await table_rows(db, LEADS))

    async def refresh(self, db: Database, lead_ids: Iterable[int]) -> None:
        """Record the current vicidial_list data of leads the test just wrote."""
        wanted = set(lead_ids)
        current = await table_rows(db, LEADS)
        self.last.update({i: row for i, row in current.items() if i in wanted})


@dataclass(frozen=True)
class Where:
    """Where the leads are, once the invariant held."""

    in_list: frozenset[int]
    archived_only: frozenset[int]
    in_both: frozenset[int]


async def assert_no_lead_lost(db: Database, ledger: Ledger) -> Where:
    """Check the invariant for every lead in the ledger; return where each lead is."""
    leads, archive = await table_rows(db, LEADS), await table_rows(db, ARCHIVE)
    problems: list[str] = []
    for lead_id, last in ledger.last.items():
        if lead_id in leads:
            if leads[lead_id] != last:
                problems.append(f"{lead_id}: changed in {LEADS}: {leads[lead_id]} != {last}")
        elif lead_id not in archive:
            problems.append(f"{lead_id}: LOST, in neither table")
        elif archive[lead_id] != last:
            problems.append(f"{lead_id}: archived as {archive[lead_id]}, last data was {last}")
    strangers = (leads.keys() | archive.keys()) - ledger.last.keys()
    problems += [f"{lead_id}: in a table but never known to the test" for lead_id in strangers]
    assert not problems, f"{len(problems)} lead(s) break the invariant:\n" + "\n".join(
        sorted(problems)[:20]
    )
    return Where(
        in_list=frozenset(leads),
        archived_only=frozenset(archive.keys() - leads.keys()),
        in_both=frozenset(leads.keys() & archive.keys()),
    )


async def assert_all_archived(db: Database, ledger: Ledger) -> None:
    """After the batches were rerun: every lead is archived with its last data, none left."""
    where = await assert_no_lead_lost(db, ledger)
    assert not where.in_list, f"{len(where.in_list)} lead(s) still in {LEADS}"
    assert where.archived_only == ledger.last.keys()
