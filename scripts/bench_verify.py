"""Measure `lead-archive verify` on a 1,000,000-lead table (InnoDB by default).

Makes its own database on the test server (LEAD_ARCHIVE_TEST_DATABASE_URL, default
mysql://root@127.0.0.1:3306), fills vicidial_list and an identical archive, plants a few
differences, times verify, and drops the database. Not part of the test suite (minutes of I/O):
    .venv/bin/python scripts/bench_verify.py [ROWS] [ENGINE]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from lead_archive_server.cli.verify import verify
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database
from lead_archive_server.core.tables import (
    drop_database,
    init_tables,
    recreate_database,
    vicidial_schema_statements,
)

SERVER = os.environ.get("LEAD_ARCHIVE_TEST_DATABASE_URL", "mysql://root@127.0.0.1:3306")


async def main(rows: int, engine: str) -> None:
    server = DatabaseUrl.parse(SERVER)
    url = server.with_database(f"la_bench_verify_{os.getpid()}")
    await recreate_database(url)
    db = await Database.connect(url, pool_size=2)
    try:
        await fill(db, rows, engine)
        started = time.monotonic()
        report = await verify(db)
        took = time.monotonic() - started
        print(
            f"verify, {engine}, {report.in_both:,} leads in both tables, "
            f"{report.differing} differing (first {list(report.first_differing)}): {took:.1f} s"
        )
    finally:
        await db.close()
        await drop_database(url)


async def fill(db: Database, rows: int, engine: str) -> None:
    started = time.monotonic()
    async with db.session() as session:
        for statement in vicidial_schema_statements(engine):
            await session.execute(statement)
        await session.execute(
            "INSERT INTO vicidial_list (entry_date, status, list_id, phone_number, first_name, "
            "last_name, city, comments) VALUES (NOW(), 'NEW', 1, '5550000000', 'John', 'Smith', "
            "'Springfield', 'seed 😀')"
        )
        count = 1
        while count < rows:  # double until there are enough
            await session.execute(
                "INSERT INTO vicidial_list (entry_date, status, list_id, phone_number, first_name, "
                "last_name, city, comments) SELECT entry_date, status, list_id, "
                "CONCAT('555', lead_id), first_name, last_name, city, comments "
                f"FROM vicidial_list LIMIT {rows - count}"
            )
            count = int((await session.fetch_all("SELECT COUNT(*) FROM vicidial_list"))[0][0])
        await session.execute("INSERT INTO vicidial_list_archive SELECT * FROM vicidial_list")
        await session.execute(
            "UPDATE vicidial_list_archive SET last_name = 'SMITH', modify_date = modify_date "
            "WHERE lead_id IN (17, 500000, 999999)"
        )
    await init_tables(db)
    print(f"filled {count:,} leads on {engine} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    asyncio.run(
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000, *sys.argv[2:3] or ["InnoDB"])
    )
