"""What vicidial_list and vicidial_list_archive look like, read from information_schema."""

from __future__ import annotations

from dataclasses import dataclass

from server import sql
from server.db import Session
from server.errors import SchemaDrift


@dataclass(frozen=True)
class Column:
    """One column as information_schema describes it."""

    name: str
    column_type: str
    charset: str


@dataclass(frozen=True)
class TableShape:
    """A table's columns in order, and its storage engine."""

    columns: tuple[Column, ...]
    engine: str


@dataclass(frozen=True)
class ArchiveSchema:
    """The columns an exact copy needs, and whether one transaction covers both tables."""

    columns: tuple[str, ...]
    transactional: bool


async def read_archive_schema(session: Session) -> ArchiveSchema:
    """Read both tables, or raise SchemaDrift naming what keeps an exact copy impossible."""
    rows = await session.fetch_all(sql.TABLE_COLUMNS, (sql.LEADS, sql.ARCHIVE))
    shapes: dict[str, list[Column]] = {sql.LEADS: [], sql.ARCHIVE: []}
    engines: dict[str, str] = {}
    for table, name, column_type, charset, engine in rows:
        shapes[table].append(Column(name, column_type, charset))
        engines[table] = engine or ""
    leads = TableShape(tuple(shapes[sql.LEADS]), engines.get(sql.LEADS, ""))
    archive = TableShape(tuple(shapes[sql.ARCHIVE]), engines.get(sql.ARCHIVE, ""))
    problem = drift(leads, archive)
    if problem:
        raise SchemaDrift(message=problem)
    return ArchiveSchema(
        columns=tuple(c.name for c in leads.columns),
        transactional=leads.engine == archive.engine == "InnoDB",
    )


def drift(leads: TableShape, archive: TableShape) -> str | None:
    """Describe the first reason the archive cannot hold an exact copy, or None."""
    if not leads.columns:
        return f"table {sql.LEADS} does not exist"
    if not archive.columns:
        return f"table {sql.ARCHIVE} does not exist; run 'lead-archive db init'"
    archived = {c.name: c for c in archive.columns}
    for column in leads.columns:
        twin = archived.get(column.name)
        if twin is None:
            return f"column {column.name} of {sql.LEADS} is missing from {sql.ARCHIVE}"
        if (twin.column_type, twin.charset) != (column.column_type, column.charset):
            return (
                f"column {column.name} is {_describe(column)} in {sql.LEADS} "
                f"but {_describe(twin)} in {sql.ARCHIVE}"
            )
    return None


def _describe(column: Column) -> str:
    return f"{column.column_type} {column.charset}".strip()
