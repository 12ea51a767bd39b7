"""A local demo: a Vicidial database with a dummy list of 500 leads and a key to call it with."""

from __future__ import annotations

import random
from dataclasses import dataclass

from lead_archive_server.access.keys import create_key
from lead_archive_server.core import sql
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import OperatorError
from lead_archive_server.core.tables import (
    create_demo_database,
    database_kind,
    drop_database,
    init_tables,
    vicidial_schema_statements,
)

DEMO_DATABASE = "lead_archive_demo"
DEMO_LIST_ID = 9999
DEMO_USER = "demo"
RESET_CONFIGURED_FLAG = "--reset-configured-database"
_FIRST_NAMES = ("John", "Mary", "José", "Zoë", "Ahmed", "Li", "Olga", "Siobhán")
_LAST_NAMES = ("Smith", "García", "Müller", "O'Brien", "Nguyễn", "Kowalski", "Okafor")


@dataclass(frozen=True)
class Demo:
    """What the demo made: where, which leads, and the key to use."""

    url: DatabaseUrl
    lead_ids: list[int]
    api_key: str


class DemoRefused(OperatorError):
    """The demo will not touch this database; the message is one line saying why."""


async def prepare_demo_database(
    url: DatabaseUrl, *, configured: DatabaseUrl, configured_source: str, reset_configured: bool
) -> None:
    """Create url's database afresh, or refuse: the demo resets only databases it made.

    The database the settings name (LEAD_ARCHIVE_DATABASE_URL, astguiclient.conf) is left
    alone, even when the demo made it, unless the operator asks with RESET_CONFIGURED_FLAG.
    """
    name = url.database
    if name == configured.database and not reset_configured:
        raise DemoRefused(
            f"database {name!r} is the one {configured_source} names; the demo leaves it "
            f"alone (add {RESET_CONFIGURED_FLAG} to reset it when the demo made it)"
        )
    kind = await database_kind(url)
    if kind == "other":
        raise DemoRefused(
            f"database {name!r} exists and was not made by the demo; refusing to reset it "
            "(choose another --database)"
        )
    if kind == "demo":
        await drop_database(url)
    await create_demo_database(url)


async def seed_demo(server: DatabaseUrl, *, leads: int = 500) -> Demo:
    """Fill the demo database (made by prepare_demo_database) with the dummy list."""
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
