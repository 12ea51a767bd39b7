"""Seed many leads quickly: multi-row INSERTs of realistic rows."""

from __future__ import annotations

from typing import Any

from tests.support import LEADS, TestDb, lead_row

CHUNK = 500


async def seed_many(tdb: TestDb, count: int, **overrides: Any) -> list[int]:
    """Insert `count` leads (lead_row values, overrides win) and return their lead_ids."""
    ids: list[int] = []
    while len(ids) < count:
        rows = [lead_row(**overrides) for _ in range(min(CHUNK, count - len(ids)))]
        columns = ", ".join(f"`{c}`" for c in rows[0])
        marks = ", ".join(["(" + ", ".join(["%s"] * len(rows[0])) + ")"] * len(rows))
        values = [value for row in rows for value in row.values()]
        async with tdb.db.session() as session:
            await session.execute(f"INSERT INTO {LEADS} ({columns}) VALUES {marks}", values)
            first = int((await session.fetch_all("SELECT LAST_INSERT_ID()"))[0][0])
        ids.extend(range(first, first + len(rows)))
    return ids
