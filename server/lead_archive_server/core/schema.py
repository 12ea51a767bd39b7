"""What vicidial_list and vicidial_list_archive look like, read from information_schema."""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

from lead_archive_server.core import sql
from lead_archive_server.core.db import Session
from lead_archive_server.core.errors import SchemaDrift


@dataclass(frozen=True)
class Column:
    """One column as information_schema describes it."""

    name: str
    column_type: str
    charset: str


@dataclass(frozen=True)
class TableShape:
    """A table's columns in order; `unreadable` when it exists but they could not be read."""

    columns: tuple[Column, ...]
    unreadable: bool = False


@dataclass(frozen=True)
class ArchiveSchema:
    """The columns an exact copy needs, and what (if anything) makes one impossible."""

    columns: tuple[str, ...]
    tables_exist: bool
    drift: str | None
    # The same for the way back (restore): the archive's columns, copied into vicidial_list.
    restore_columns: tuple[str, ...] = ()
    restore_drift: str | None = None

    def for_restore(self) -> ArchiveSchema:
        """The schema as a restore sees it: copying archive rows into vicidial_list."""
        return ArchiveSchema(self.restore_columns, self.tables_exist, self.restore_drift)

    def require_tables(self) -> None:
        """Raise SchemaDrift when either table is missing."""
        if not self.tables_exist:
            raise SchemaDrift(message=self.drift)

    def require_exact_copy(self) -> None:
        """Raise SchemaDrift when the archive cannot hold an exact copy of a lead."""
        if self.drift:
            raise SchemaDrift(message=self.drift)


async def read_table_shapes(session: Session) -> tuple[TableShape, TableShape]:
    """Both tables' columns (vicidial_list, then the archive) in one round trip."""
    rows = await session.fetch_all(sql.TABLE_COLUMNS, (sql.LEADS, sql.ARCHIVE))
    shapes: dict[str, list[Column]] = {sql.LEADS: [], sql.ARCHIVE: []}
    for table, name, column_type, charset in rows:
        shapes[table].append(Column(name, column_type, charset))
    return await _shape(session, sql.LEADS, shapes), await _shape(session, sql.ARCHIVE, shapes)


async def _shape(session: Session, table: str, shapes: dict[str, list[Column]]) -> TableShape:
    """A table without columns may still exist: information_schema skips one it cannot open."""
    if shapes[table]:
        return TableShape(tuple(shapes[table]))
    rows = await session.fetch_all(sql.TABLE_EXISTS, (table,))
    return TableShape((), unreadable=bool(rows[0][0]))


async def read_archive_schema(session: Session) -> ArchiveSchema:
    """Read both tables' columns and what, if anything, keeps an exact copy from being made."""
    leads, archive = await read_table_shapes(session)
    return ArchiveSchema(
        columns=tuple(c.name for c in leads.columns),
        tables_exist=bool(leads.columns and archive.columns),
        drift=drift(leads, archive),
        restore_columns=tuple(c.name for c in archive.columns),
        restore_drift=drift(leads, archive, sql.RESTORING),
    )


# The one table option that changes without any change to the table: the next lead_id.
_NEXT_ID = re.compile(r" AUTO_INCREMENT=\d+")


def definitions_key(leads: str, archive: str) -> tuple[str, str]:
    """Both tables' SHOW CREATE TABLE text, less the AUTO_INCREMENT counter in the table options.

    Only the options after the last column and key are touched, so every column's name,
    position, type, ENUM members, charset and attributes stay in the key as written.
    """
    return _without_counter(leads), _without_counter(archive)


def _without_counter(definition: str) -> str:
    body, close, options = definition.rpartition("\n)")
    return body + close + _NEXT_ID.sub("", options)


class SchemaCache:
    """ArchiveSchema by both tables' full definitions.

    A batch reads SHOW CREATE TABLE for both tables inside its transaction, after its
    membership query took both tables' metadata locks, so the definitions are the tables as
    they are until COMMIT. An entry is stored only from an information_schema read made in a
    transaction whose definitions were its key, under the same locks. The columns
    information_schema reports (names, order, types, charsets) are a function of the
    definition, so a hit gives exactly the current columns: any ALTER TABLE that touches a
    column changes the key and forces a fresh read.
    """

    def __init__(self, *, size: int = 16) -> None:
        self._entries: OrderedDict[tuple[str, str], ArchiveSchema] = OrderedDict()
        self._size = size

    def get(self, key: tuple[str, str]) -> ArchiveSchema | None:
        schema = self._entries.get(key)
        if schema is not None:
            self._entries.move_to_end(key)
        return schema

    def put(self, key: tuple[str, str], schema: ArchiveSchema) -> None:
        self._entries[key] = schema
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


async def current_schema(
    session: Session, key: tuple[str, str], cache: SchemaCache
) -> ArchiveSchema:
    """Both tables' columns, given their definitions_key read in a transaction that already
    used both tables; information_schema only when the definitions are new.
    """
    schema = cache.get(key)
    if schema is None:
        schema = await read_archive_schema(session)
        cache.put(key, schema)
    return schema


def drift(leads: TableShape, archive: TableShape, flow: sql.Flow = sql.ARCHIVING) -> str | None:
    """Describe the first reason the target cannot hold an exact copy, or None."""
    reasons = copy_blockers(leads, archive, flow)
    return reasons[0] if reasons else None


def copy_blockers(
    leads: TableShape, archive: TableShape, flow: sql.Flow = sql.ARCHIVING
) -> list[str]:
    """Every reason the flow's target cannot hold an exact copy of a lead, in column order.

    Archiving copies every column of vicidial_list into the archive; restoring copies every
    column of the archive back, so each direction needs the source's columns in the target.
    """
    for shape, table in ((leads, sql.LEADS), (archive, sql.ARCHIVE)):
        if shape.unreadable:
            return [
                f"table {table} exists but its columns cannot be read (locked by a repair, "
                f"or marked as crashed: run REPAIR TABLE {table})"
            ]
    if not leads.columns:
        return [f"table {sql.LEADS} does not exist"]
    if not archive.columns:
        return [f"table {sql.ARCHIVE} does not exist; run 'lead-archive db init'"]
    source, target = (leads, archive) if flow == sql.ARCHIVING else (archive, leads)
    in_target = {c.name: c for c in target.columns}
    reasons = []
    for column in source.columns:
        twin = in_target.get(column.name)
        if twin is None:
            reasons.append(f"column {column.name} of {flow.source} is missing from {flow.target}")
        elif (twin.column_type, twin.charset) != (column.column_type, column.charset):
            reasons.append(
                f"column {column.name} is {_describe(column)} in {flow.source} "
                f"but {_describe(twin)} in {flow.target}"
            )
    return reasons


def extra_columns(leads: TableShape, archive: TableShape) -> list[str]:
    """Archive columns vicidial_list lacks: harmless to a copy, but still drift to report."""
    names = {c.name for c in leads.columns}
    return [
        f"column {c.name} of {sql.ARCHIVE} is not in {sql.LEADS}"
        for c in archive.columns
        if leads.columns and c.name not in names
    ]


def _describe(column: Column) -> str:
    return f"{column.column_type} {column.charset}".strip()
