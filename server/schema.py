"""What vicidial_list and vicidial_list_archive look like, read from information_schema."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from server import sql
from server.db import ResultColumn, Session
from server.errors import SchemaDrift


@dataclass(frozen=True)
class Column:
    """One column as information_schema describes it."""

    name: str
    column_type: str
    charset: str


@dataclass(frozen=True)
class TableShape:
    """A table's columns in order."""

    columns: tuple[Column, ...]


@dataclass(frozen=True)
class ArchiveSchema:
    """The columns an exact copy needs, and what (if anything) makes one impossible."""

    columns: tuple[str, ...]
    tables_exist: bool
    drift: str | None

    def require_tables(self) -> None:
        """Raise SchemaDrift when either table is missing."""
        if not self.tables_exist:
            raise SchemaDrift(message=self.drift)

    def require_exact_copy(self) -> None:
        """Raise SchemaDrift when the archive cannot hold an exact copy of a lead."""
        if self.drift:
            raise SchemaDrift(message=self.drift)


async def read_archive_schema(session: Session) -> ArchiveSchema:
    """Read both tables' columns in one round trip."""
    rows = await session.fetch_all(sql.TABLE_COLUMNS, (sql.LEADS, sql.ARCHIVE))
    return archive_schema(rows)


def archive_schema(rows: Iterable[tuple[str, str, str, str]]) -> ArchiveSchema:
    """The schema from (table, column, column type, charset) rows in column order."""
    shapes: dict[str, list[Column]] = {sql.LEADS: [], sql.ARCHIVE: []}
    for table, name, column_type, charset in rows:
        shapes[table].append(Column(name, column_type, charset))
    leads, archive = TableShape(tuple(shapes[sql.LEADS])), TableShape(tuple(shapes[sql.ARCHIVE]))
    return ArchiveSchema(
        columns=tuple(c.name for c in leads.columns),
        tables_exist=bool(leads.columns and archive.columns),
        drift=drift(leads, archive),
    )


class SchemaCache:
    """ArchiveSchema by the exact description of both tables' columns.

    A batch describes both tables (sql.DESCRIBE_TABLES) inside its transaction, after it took
    their metadata locks, so the description is the tables as they are until COMMIT. An
    entry is stored only from an information_schema read made in a transaction whose
    description was its key, under the same locks. The key holds every column's database,
    table, name, position, type, length, decimals, charset and flags, so a hit means the
    cached column names are exactly the current ones: a column added, dropped, renamed or
    moved between batches changes the key and forces a fresh read. What a description
    cannot show (the members of an ENUM or SET) only words the refusal message: the compare
    before delete is byte-exact whatever the types say. Entries are read afresh after
    max_age_s all the same, so that message is never older than that.
    """

    def __init__(
        self,
        *,
        max_age_s: float = 10.0,
        size: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[tuple[ResultColumn, ...], tuple[float, ArchiveSchema]] = (
            OrderedDict()
        )
        self._max_age_s = max_age_s
        self._size = size
        self._clock = clock

    def get(self, key: tuple[ResultColumn, ...]) -> ArchiveSchema | None:
        """The schema stored for this description, unless it is older than max_age_s."""
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry[0] > self._max_age_s:
            return None
        return entry[1]

    def put(self, key: tuple[ResultColumn, ...], schema: ArchiveSchema) -> None:
        self._entries[key] = (self._clock(), schema)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


async def current_schema(
    session: Session, description: tuple[ResultColumn, ...], cache: SchemaCache
) -> ArchiveSchema:
    """Both tables' columns, given their description (sql.DESCRIBE_TABLES) read in a
    transaction that already used both tables; information_schema only when not cached.
    """
    schema = cache.get(description)
    if schema is None:
        schema = await read_archive_schema(session)
        cache.put(description, schema)
    return schema


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
