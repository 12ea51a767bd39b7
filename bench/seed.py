"""A fresh benchmark database: Vicidial's tables on one engine, N realistic leads, one API key."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from lead_archive_server.access.keys import create_key
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database
from lead_archive_server.core.tables import (
    drop_database,
    init_tables,
    recreate_database,
    vicidial_schema_statements,
)

# Every column of Vicidial's vicidial_list but lead_id, filled from MariaDB's sequence engine
# (seq_1_to_N) so that 100,000 varied leads take one statement: NULLs, '' and trailing
# spaces, accents and emoji, so the byte-exact compare does real work.
_SEED_COLUMNS = (
    "entry_date, modify_date, status, user, vendor_lead_code, source_id, list_id, "
    "gmt_offset_now, called_since_last_reset, phone_code, phone_number, title, first_name, "
    "middle_initial, last_name, address1, address2, address3, city, state, province, "
    "postal_code, country_code, gender, date_of_birth, alt_phone, email, security_phrase, "
    "comments, called_count, last_local_call_time, `rank`, owner, entry_list_id"
)
_SEED_VALUES_TEMPLATE = """
  TIMESTAMP'2020-01-01 08:00:00' + INTERVAL (seq * 7) MINUTE,
  TIMESTAMP'2021-06-01 08:00:00' + INTERVAL (seq * 5) MINUTE,
  ELT(1 + seq % 6, 'NEW', 'NA', 'B', 'DNC', 'SALE', 'CALLBK'),
  IF(seq % 3 = 0, '', CONCAT('66', seq % 50)),
  CONCAT('V', LPAD(seq, 9, '0')),
  ELT(1 + seq % 3, 'web', 'import', NULL),
  {list_id},
  ELT(1 + seq % 4, -5.00, -6.00, -8.00, 1.00),
  ELT(1 + seq % 3, 'N', 'Y', 'Y1'),
  '1',
  CONCAT('555', LPAD(seq, 7, '0')),
  ELT(1 + seq % 4, 'Mr', 'Ms', 'Dr', ''),
  ELT(1 + seq % 8, 'John', 'Mary', 'José', 'Zoë', 'Ahmed', 'Li', 'Olga', 'Siobhán'),
  CHAR(65 + seq % 26),
  ELT(1 + seq % 7, 'Smith', 'García', 'Müller', 'O''Brien', 'Nguyễn', 'Kowalski ', 'Okafor'),
  CONCAT(1 + seq % 999, ' Main St'),
  IF(seq % 5 = 0, NULL, 'Apt 4'),
  '',
  ELT(1 + seq % 5, 'Springfield', 'Zürich', 'Montréal', 'Austin', 'Lagos'),
  ELT(1 + seq % 4, 'IL', 'TX', 'QC', 'NY'),
  NULL,
  LPAD(seq % 99999, 5, '0'),
  'USA',
  ELT(1 + seq % 3, 'M', 'F', 'U'),
  DATE'1950-01-01' + INTERVAL (seq % 18000) DAY,
  IF(seq % 4 = 0, NULL, CONCAT('556', LPAD(seq, 7, '0'))),
  CONCAT('lead', seq, '@example.com'),
  NULL,
  IF(seq % 10 = 0, 'called twice 😀', REPEAT('note ', seq % 20)),
  seq % 12,
  TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq MINUTE,
  seq % 10,
  '',
  0
"""
# The default spreads the leads over 20 lists, as a live table holds them.
SPREAD_LISTS = "1000 + seq % 20"


def _seed_insert(count: int, list_id: str = SPREAD_LISTS) -> str:
    """INSERT … SELECT of `count` leads (list_id: an SQL expression over seq, or a number)."""
    values = _SEED_VALUES_TEMPLATE.replace("{list_id}", list_id)
    return f"INSERT INTO vicidial_list ({_SEED_COLUMNS}) SELECT {values} FROM seq_1_to_{int(count)}"


@dataclass(frozen=True)
class BenchDatabase:
    """The seeded database: where it is, its lead IDs (1..N) and an API key for it."""

    url: DatabaseUrl
    leads: int
    api_key: str


def database_name(engine: str) -> str:
    """A name no other engineer or CI run uses at the same time."""
    return f"la_bench_{os.getpid()}_{engine.lower()}"


async def create(
    server: DatabaseUrl, engine: str, leads: int, *, name_suffix: str = ""
) -> BenchDatabase:
    """(Re)create the benchmark database and seed lead IDs 1..leads."""
    name = database_name(engine) + (f"_{name_suffix}" if name_suffix else "")
    url = server.with_database(name)
    await recreate_database(url)
    db = await Database.connect(url, pool_size=1)
    try:
        async with db.session() as session:
            for statement in vicidial_schema_statements(engine):
                await session.execute(statement)
            await session.execute(_seed_insert(leads))
            # Fresh statistics, as on a live table, so plans do not depend on seeding order.
            await session.fetch_all("ANALYZE TABLE vicidial_list, vicidial_list_archive")
        await init_tables(db)
        api_key = await create_key(db, "bench")
    finally:
        await db.close()
    return BenchDatabase(url, leads, api_key)


async def refill(url: DatabaseUrl, lists: Sequence[tuple[int, int]]) -> None:
    """Empty both tables, then seed each (list_id, count) in turn: lead IDs 1.. in that order."""
    db = await Database.connect(url, pool_size=1)
    try:
        async with db.session() as session:
            await session.execute("TRUNCATE TABLE vicidial_list_archive")
            await session.execute("TRUNCATE TABLE vicidial_list")
            for list_id, count in lists:
                await session.execute(_seed_insert(count, str(int(list_id))))
            await session.fetch_all("ANALYZE TABLE vicidial_list, vicidial_list_archive")
    finally:
        await db.close()


async def drop(bench_db: BenchDatabase) -> None:
    """Drop the benchmark database."""
    await drop_database(bench_db.url)


async def count_rows(url: DatabaseUrl, table: str) -> int:
    """How many rows a table of the benchmark database holds."""
    db = await Database.connect(url, pool_size=1)
    try:
        async with db.session() as session:
            rows = await session.fetch_all(f"SELECT COUNT(*) FROM `{table}`")
    finally:
        await db.close()
    return int(rows[0][0])
