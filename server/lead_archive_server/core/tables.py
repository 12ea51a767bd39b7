"""Create the service's own tables and the archive table, the Vicidial way."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

from lead_archive_server.core import sql
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database, Session
from lead_archive_server.core.errors import OperatorError


@dataclass(frozen=True)
class TablesMade:
    """What `init_tables` did: the tables it created, the key columns it added to an older
    key table."""

    created: list[str] = field(default_factory=list)
    added_key_columns: list[str] = field(default_factory=list)


async def init_tables(db: Database) -> TablesMade:
    """Create what is missing and upgrade an older key table; safe to run twice."""
    made = TablesMade()
    async with db.session() as session:
        # Checked first: a database without Vicidial's leads is the wrong one; touch nothing.
        if not await _exists(session, sql.LEADS):
            raise OperatorError(f"table {sql.LEADS} not found in database {db.url.database!r}")
        missing = await missing_key_columns(session)
        if missing is None:
            await session.execute(sql.CREATE_KEYS)
            made.created.append(sql.KEYS)
        elif missing:
            # One ALTER for all: existing keys get both scopes from the column's DEFAULT.
            await session.execute(sql.add_key_columns(missing))
            made.added_key_columns.extend(missing)
        if not await _exists(session, sql.ARCHIVE):
            # The ALTER rebuilds the table, so it runs only on a table made just now.
            for statement in sql.CREATE_ARCHIVE:
                await session.execute(statement)
            made.created.append(sql.ARCHIVE)
    return made


async def missing_key_columns(session: Session) -> list[str] | None:
    """The key columns an older key table lacks (in the order they are added); None when
    there is no key table."""
    rows = await session.fetch_all(sql.KEY_TABLE_COLUMNS)
    if not rows:
        return None
    present = {str(row[0]).lower() for row in rows}
    return [name for name, _ in sql.KEY_COLUMNS_ADDED if name not in present]


async def _exists(session: Session, table: str) -> bool:
    rows = await session.fetch_all(sql.TABLE_EXISTS, (table,))
    return bool(rows[0][0])


def vicidial_schema_statements(engine: str = "MyISAM") -> list[str]:
    """Vicidial's own CREATE TABLE statements (for the demo and tests), on the given engine."""
    text = resources.files("lead_archive_server.core").joinpath("vicidial_schema.sql").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    statements = [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
    return [re.sub(r"ENGINE=MyISAM", f"ENGINE={engine}", s) for s in statements]


async def recreate_database(url: DatabaseUrl) -> None:
    """Drop and create url's database, empty (for tests and benchmarks' scratch databases)."""
    await _on_server(url, sql.drop_database(url.database), sql.create_database(url.database))


async def drop_database(url: DatabaseUrl) -> None:
    """Drop url's database if it exists."""
    await _on_server(url, sql.drop_database(url.database))


async def database_kind(url: DatabaseUrl) -> Literal["absent", "demo", "other"]:
    """Whether url's database is missing, one the demo created (marked), or anyone else's."""
    admin = await Database.connect(url.with_database(""), pool_size=1)
    try:
        async with admin.session() as session:
            exists = await session.fetch_all(sql.DATABASE_EXISTS, (url.database,))
            if not exists[0][0]:
                return "absent"
            marked = await session.fetch_all(sql.TABLE_IN_DATABASE, (url.database, sql.DEMO_MARKER))
    finally:
        await admin.close()
    return "demo" if marked[0][0] else "other"


async def create_demo_database(url: DatabaseUrl) -> None:
    """Create url's database, empty but for the marker that lets the demo reset it later."""
    name = url.database
    await _on_server(
        url,
        sql.create_database(name),
        sql.create_demo_marker(name),
        sql.insert_demo_marker(name),
    )


async def _on_server(url: DatabaseUrl, *statements: str) -> None:
    admin = await Database.connect(url.with_database(""), pool_size=1)
    try:
        async with admin.session() as session:
            for statement in statements:
                await session.execute(statement)
    finally:
        await admin.close()
