"""A local demo: a Vicidial database with a dummy list of 500 leads and a key to call it with."""

from __future__ import annotations

import random
from dataclasses import dataclass

from lead_archive_server.access.keys import create_key
from lead_archive_server.core import sql
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database
from lead_archive_server.core.tables import (
    init_tables,
    recreate_database,
    vicidial_schema_statements,
)

DEMO_DATABASE = "lead_archive_demo"
DEMO_LIST_ID = 9999
DEMO_USER = "demo"
_FIRST_NAMES = ("John", "Mary", "José", "Zoë", "Ahmed", "Li", "Olga", "Siobhán")
_LAST_NAMES = ("Smith", "García", "Müller", "O'Brien", "Nguyễn", "Kowalski", "Okafor")


@dataclass(frozen=True)
class Demo:
    """What the demo made: where, which leads, and the key to use."""

    url: DatabaseUrl
    lead_ids: list[int]
    api_key: str


async def seed_demo(server: DatabaseUrl, *, leads: int = 500) -> Demo:
    """Recreate the demo database from scratch and fill the dummy list."""
    await recreate_database(server)
    db = await Database.connect(server, pool_size=1)
    try:
        async with db.session() as session:
            for statement in vicidial_schema_statements():
                await session.execute(statement)
            await session.execute(sql.insert_demo_leads(leads), _lead_values(leads))
            rows = await session.fetch_all(sql.SELECT_LIST_LEADS, (DEMO_LIST_ID,))
        await init_tables(db)
        api_key = await create_key(db, DEMO_USER)
    finally:
        await db.close()
    return Demo(server, [int(r[0]) for r in rows], api_key)


def _lead_values(count: int) -> list[object]:
    rng = random.Random(500)
    values: list[object] = []
    for n in range(count):
        values += [
            DEMO_LIST_ID,
            f"DEMO{n:05d}",
            "demo",
            f"555{rng.randrange(10**7):07d}",
            rng.choice(_FIRST_NAMES),
            rng.choice(_LAST_NAMES),
            "Springfield",
            "dummy lead for the lead-archive demo",
        ]
    return values
