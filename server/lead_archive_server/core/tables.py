"""Create the service's own tables and the archive table, the Vicidial way."""

from __future__ import annotations

import re
from importlib import resources
from typing import Literal

from lead_archive_server.core import sql
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database, Session
from lead_archive_server.core.errors import OperatorError


async def init_tables(db: Database) -> list[str]:
    """Create what is missing and return the names created; safe to run twice."""
    created: list[str] = []
    async with db.session() as session:
        # Checked first: a database without Vicidial's leads is the wrong one; touch nothing.
        if not await _exists(session, sql.LEADS):
            raise OperatorError(f"table {sql.LEADS} not found in database {db.url.database!r}")
        if not await _exists(session, sql.KEYS):
            await session.execute(sql.CREATE_KEYS)
            created.append(sql.KEYS)
        if not await _exists(session, sql.ARCHIVE):
            # The ALTER rebuilds the table, so it runs only on a table made just now.
            for statement in sql.CREATE_ARCHIVE:
                await session.execute(statement)
            created.append(sql.ARCHIVE)
    return created


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
