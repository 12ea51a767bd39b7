"""Test helpers over a real database: seeding leads and reading tables back; and the one way
tests wait for something to happen (wait_until: a poll against a deadline, never a fixed sleep)."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pymysql
import pytest
from lead_archive_server.core.db import Database
from lead_archive_server.core.tables import vicidial_schema_statements

# The MariaDB server the tests make their databases on.
SERVER_URL = os.environ.get("LEAD_ARCHIVE_TEST_DATABASE_URL", "mysql://root@127.0.0.1:3306")
ENGINES = ("MyISAM", "InnoDB")
# Table shapes: the shared spec's (utf8mb4, modify_date ON UPDATE CURRENT_TIMESTAMP), and what
# Vicidial's own install script gives on MariaDB 10.10+ (CONTRACT 9, issue of real shapes):
# utf8 (utf8mb3) / utf8_unicode_ci columns and a bare modify_date TIMESTAMP, which
# explicit_defaults_for_timestamp turns into NULL DEFAULT NULL with no ON UPDATE.
SHAPES = ("utf8mb4", "vicidial")
# Names that collations treat as equal to others but bytes do not: case, accents, spaces, NULL.
VARIED_NAMES = ("John", "john", "José", "Zoë ", "", None, "O'Brien", "李")
LEADS = "vicidial_list"
ARCHIVE = "vicidial_list_archive"
DIALER_TABLES = (
    "vicidial_hopper",
    "vicidial_auto_calls",
    "vicidial_live_agents",
    "vicidial_callbacks",
)
# Vicidial's install script leaves these two on MEMORY (CONTRACT 9); so do the fixtures.
MEMORY_TABLES = ("vicidial_hopper", "vicidial_auto_calls")
# The dialer-table variants a test may ask for: as Vicidial installs them, or every dialer
# table on the engine of vicidial_list (some installs convert them).
DIALER_ENGINES = ("MEMORY", "list")
# Values that collations treat as equal but bytes do not, one column each: a safe delete must
# keep the lead when its archived copy differs only so (column, in vicidial_list, in archive).
TRAPS = [
    pytest.param("first_name", "john", "John", id="letter-case"),
    pytest.param("last_name", "Smith", "Smith ", id="trailing-space"),
    pytest.param("address2", None, "", id="null-vs-empty"),
    pytest.param("address3", "", None, id="empty-vs-null"),
    pytest.param("comments", "café", "cafe", id="accent"),
    pytest.param("comments", "😀", "😁", id="4-byte-emoji"),
    pytest.param("modify_date", "2024-03-02 11:30:00", "2024-03-02 11:30:01", id="modify-date"),
    pytest.param("gmt_offset_now", "-5.00", "-4.00", id="decimal"),
    pytest.param("called_since_last_reset", "Y", "Y1", id="enum"),
]
ADMIN_LOG_COLUMNS = (
    "user, ip_address, event_section, event_type, record_id, event_code, event_sql, "
    "event_notes, user_group"
)
_serial = itertools.count(1)
T = TypeVar("T")
_BEYOND_UTF8MB3 = re.compile("[\U00010000-\U0010ffff]")


def schema_statements(engine: str, shape: str = "utf8mb4") -> list[str]:
    """Vicidial's tables on `engine`, in the given shape (SHAPES)."""
    statements = vicidial_schema_statements(engine)
    if shape == "utf8mb4":
        return statements
    return [
        s.replace(
            "CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci", "CHARSET=utf8 COLLATE=utf8_unicode_ci"
        ).replace(
            "modify_date TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP",
            "modify_date TIMESTAMP",
        )
        for s in statements
    ]


def lead_row(**overrides: Any) -> dict[str, Any]:
    """A realistic lead using every kind of Vicidial column; overrides win."""
    n = next(_serial)
    row: dict[str, Any] = {
        "entry_date": "2024-03-01 10:00:00",
        "modify_date": "2024-03-02 11:30:00",
        "status": "NEW",
        "user": "6666",
        "vendor_lead_code": f"V{n:06d}",
        "source_id": "src",
        "list_id": 1001,
        "gmt_offset_now": "-5.00",
        "called_since_last_reset": "N",
        "phone_code": "1",
        "phone_number": f"555{n:07d}",
        "title": "Mr",
        "first_name": "John",
        "middle_initial": "Q",
        "last_name": "Smith",
        "address1": "1 Main St",
        "address2": None,
        "address3": "",
        "city": "Springfield",
        "state": "IL",
        "province": None,
        "postal_code": "62701",
        "country_code": "USA",
        "gender": "M",
        "date_of_birth": "1980-05-17",
        "alt_phone": None,
        "email": "john@example.com",
        "security_phrase": None,
        "comments": "called twice 😀",
        "called_count": 2,
        "last_local_call_time": "2024-03-02 11:00:00",
        "rank": 0,
        "owner": "",
        "entry_list_id": 0,
    }
    row.update(overrides)
    return row


def _id(lead_id: int | None) -> dict[str, Any]:
    return {} if lead_id is None else {"lead_id": lead_id}


@dataclass
class TestDb:
    __test__ = False  # not a test class, despite the name

    """A test database on one engine, and helpers to seed and read it."""

    db: Database
    engine: str
    shape: str = "utf8mb4"
    # Batches lock their ranges of lead IDs, not the database (LEAD_ARCHIVE_BATCH_LOCKS).
    range_locks: bool = False

    @property
    def batch_locks(self) -> str:
        """LEAD_ARCHIVE_BATCH_LOCKS for a service on this database."""
        return "ranges" if self.range_locks else "database"

    def fit(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row as the table can hold it: utf8mb3 columns take no character beyond the
        Basic Multilingual Plane (an emoji becomes '?')."""
        if self.shape == "utf8mb4":
            return row
        return {k: _BEYOND_UTF8MB3.sub("?", v) if isinstance(v, str) else v for k, v in row.items()}

    @property
    def charset(self) -> str:
        """The text columns' character set, as information_schema names it."""
        return "utf8mb4" if self.shape == "utf8mb4" else "utf8mb3"

    def skip_unless_it_holds(self, *values: object) -> None:
        """Skip a test whose values a utf8mb3 column cannot hold (4-byte characters)."""
        if self.shape != "utf8mb4" and any(
            isinstance(v, str) and _BEYOND_UTF8MB3.search(v) for v in values
        ):
            pytest.skip("utf8mb3 columns hold no 4-byte character (Vicidial's own shape)")

    async def execute(self, statement: str, args: Sequence[object] = ()) -> int:
        async with self.db.session() as session:
            return await session.execute(statement, args)

    async def fetch(self, statement: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        async with self.db.session() as session:
            return await session.fetch_all(statement, args)

    async def create_vicidial_tables(self) -> None:
        for statement in schema_statements(self.engine, self.shape):
            await self.execute(statement)

    async def reset(self) -> None:
        """Empty tables, undoing any schema change a test made."""
        tables = (
            LEADS,
            ARCHIVE,
            "vicidial_lists",
            "vicidial_campaigns",
            "vicidial_call_times",
            "vicidial_call_time_holidays",
        )
        for table in tables:
            await self.execute(f"DROP TABLE IF EXISTS {table}")
        # "TABLE vicidial_list" also matches vicidial_list_archive and vicidial_lists.
        recreated = (
            f"TABLE {LEADS}",
            f"TABLE {ARCHIVE}",
            "vicidial_call_time",
            "TABLE vicidial_campaigns",
        )
        for statement in schema_statements(self.engine, self.shape):
            if any(name in statement for name in recreated):
                await self.execute(statement)
        await self.reset_dialer()
        await self.execute("DELETE FROM lead_archive_api_keys")

    async def reset_dialer(self) -> None:
        """Empty the dialer's tables, creating any a test dropped and putting the hopper and
        the calls back on MEMORY."""
        names = ", ".join(f"'{t}'" for t in DIALER_TABLES)
        present = await self.fetch(
            "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES "
            f"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({names})"
        )
        existing = {row[0] for row in present}
        for table, engine in present:
            if table in MEMORY_TABLES and engine != "MEMORY":
                await self.execute(f"ALTER TABLE {table} ENGINE=MEMORY")
        for statement in schema_statements(self.engine, self.shape):
            table = next((t for t in DIALER_TABLES if f"TABLE {t} (" in statement), None)
            if table is not None and table not in existing:
                await self.execute(statement)
        for table in existing:
            await self.execute(f"DELETE FROM {table}")

    async def use_dialer_engine(self, variant: str) -> None:
        """Put the hopper and the calls on MEMORY (as Vicidial does) or, for variant "list",
        on vicidial_list's engine; reset_dialer puts them back on MEMORY."""
        engine = self.engine if variant == "list" else variant
        for table in MEMORY_TABLES:
            await self.execute(f"ALTER TABLE {table} ENGINE={engine}")

    async def insert_leads(self, rows: Sequence[dict[str, Any]], table: str = LEADS) -> list[int]:
        """Insert leads and return their lead_ids in order."""
        ids = []
        for row in map(self.fit, rows):
            columns = ", ".join(f"`{c}`" for c in row)
            marks = ", ".join(["%s"] * len(row))
            async with self.db.session() as session:
                await session.execute(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values())
                )
                if "lead_id" in row:
                    ids.append(int(row["lead_id"]))
                else:
                    ids.append(int((await session.fetch_all("SELECT LAST_INSERT_ID()"))[0][0]))
        return ids

    async def seed_many(
        self, count: int, *, first_id: int | None = None, chunk: int = 500, **overrides: Any
    ) -> list[int]:
        """Insert `count` leads with multi-row INSERTs and return their lead_ids.

        With first_id the ids are first_id, first_id+1, …; without, the table numbers them.
        """
        ids: list[int] = []
        while len(ids) < count:
            size = min(chunk, count - len(ids))
            wanted = (
                [None] * size
                if first_id is None
                else [first_id + len(ids) + n for n in range(size)]
            )
            rows = [
                self.fit(lead_row(**({"first_name": VARIED_NAMES[n % 8]} | _id(i) | overrides)))
                for n, i in enumerate(wanted, start=len(ids))
            ]
            columns = ", ".join(f"`{c}`" for c in rows[0])
            row = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
            async with self.db.session() as session:
                await session.execute(
                    f"INSERT INTO {LEADS} ({columns}) VALUES " + ", ".join([row] * len(rows)),
                    [value for r in rows for value in r.values()],
                )
                first = int((await session.fetch_all("SELECT LAST_INSERT_ID()"))[0][0])
            # A multi-row INSERT numbers its rows consecutively from LAST_INSERT_ID().
            ids.extend(range(first, first + size) if first_id is None else wanted)
        return ids

    async def seed(self, count: int, **overrides: Any) -> list[int]:
        return await self.insert_leads([lead_row(**overrides) for _ in range(count)])

    async def copy_to_archive(self, lead_ids: Sequence[int]) -> None:
        marks = ", ".join(["%s"] * len(lead_ids))
        await self.execute(
            f"INSERT INTO {ARCHIVE} SELECT * FROM {LEADS} WHERE lead_id IN ({marks})", lead_ids
        )

    async def rows(self, table: str, lead_ids: Sequence[int] | None = None) -> dict[int, tuple]:
        """Every row of a table (or of some leads) keyed by lead_id, byte-exact values."""
        where = ""
        if lead_ids:
            where = f" WHERE lead_id IN ({', '.join(['%s'] * len(lead_ids))})"
        rows = await self.fetch(f"SELECT * FROM {table}{where}", list(lead_ids or ()))
        return {int(r[0]): tuple(r) for r in rows}

    async def count(self, table: str) -> int:
        return int((await self.fetch(f"SELECT COUNT(*) FROM {table}"))[0][0])

    async def snapshot(self) -> tuple[dict[int, tuple], dict[int, tuple]]:
        """Both tables, for 'nothing changed' assertions."""
        return await self.rows(LEADS), await self.rows(ARCHIVE)


async def wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    timeout_s: float = 30,
    what: str = "the condition",
    *,
    every: float = 0.02,
) -> T:
    """Poll `predicate` (plain or async) every `every` seconds until it returns something
    true, and return that; fail naming `what` once `timeout_s` seconds have passed (a predicate
    that hangs is cut off at the deadline too)."""
    try:
        async with asyncio.timeout(timeout_s) as deadline:
            while True:
                got = predicate()
                if inspect.isawaitable(got):
                    got = await got
                if got:
                    return got  # type: ignore[return-value]
                await asyncio.sleep(every)  # the poll's interval, within the deadline
    except TimeoutError:
        if not deadline.expired():
            raise  # the predicate's own timeout, not ours
        raise AssertionError(f"waited {timeout_s:g} s for {what}") from None


def query(tdb: TestDb, statement: str) -> list[tuple]:
    """Run one statement on a connection of its own (outside the test's event loop)."""
    url = tdb.db.url
    with (
        pymysql.connect(
            host=url.host,
            port=url.port,
            user=url.user,
            password=url.password,
            database=url.database,
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
        return list(cursor.fetchall())


async def exact_rows(tdb: TestDb, table: str) -> dict[int, tuple[Any, ...]]:
    """Every row as the bytes of each column (and modify_date as seconds since the epoch)."""
    columns = await tdb.fetch(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        [table],
    )
    names = [str(row[0]) for row in columns]
    exprs = ", ".join(f"CAST(`{name}` AS BINARY)" for name in names)
    rows = await tdb.fetch(f"SELECT lead_id, UNIX_TIMESTAMP(modify_date), {exprs} FROM {table}")
    return {int(row[0]): tuple(row[1:]) for row in rows}


async def admin_log(tdb: TestDb) -> list[dict[str, Any]]:
    """The rows of Vicidial's Admin Change Log (vicidial_admin_log), by column name."""
    rows = await tdb.fetch(f"SELECT {ADMIN_LOG_COLUMNS} FROM vicidial_admin_log")
    names = [name.strip() for name in ADMIN_LOG_COLUMNS.split(",")]
    return [dict(zip(names, row, strict=True)) for row in rows]


async def lock_waiters(tdb: TestDb) -> int:
    """Connections to tdb's database waiting in GET_LOCK (the batch lock, for one)."""
    rows = await tdb.fetch(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        "WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND STATE = 'User lock'"
    )
    return int(rows[0][0])
