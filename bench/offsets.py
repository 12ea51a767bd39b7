"""What reading office hours from Vicidial costs on a big table (CONTRACT 9).

A fresh database per engine with 1,000,000 leads over 20 lists, 10 of them active, and four
campaigns. Timed, each `rounds` times (median and slowest):

* offsets: LeadOffsets' read, the gmt_offset_now of the leads of every active list (one
  statement per list in one round trip), which LEAD_ARCHIVE_CALL_TIME_ID and the dialer mode
  run at most once a minute, in the background;
* dialer: DialerHours' read of the live rows, campaigns, lists and call times (one round
  trip), which the dialer mode runs at most every 5 seconds on a request;
* the hold: how long one list's statement keeps vicidial_list's read lock on MyISAM (the
  longest), which is what the dialer's writes may wait behind.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from lead_archive_server.access.schedules import DialerHours, LeadOffsets, ServerZone
from lead_archive_server.core import sql
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database

from bench import seed

LISTS = 20
ACTIVE_LISTS = 10
CAMPAIGNS = 4


@dataclass
class OffsetsResult:
    """Milliseconds per read, by round."""

    engine: str
    leads: int
    offsets_ms: list[float] = field(default_factory=list)
    dialer_ms: list[float] = field(default_factory=list)
    longest_list_ms: list[float] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"offsets_read_ms={statistics.median(self.offsets_ms):.0f} "
            f"offsets_read_max_ms={max(self.offsets_ms):.0f} "
            f"one_list_hold_ms={statistics.median(self.longest_list_ms):.0f} "
            f"dialer_read_ms={statistics.median(self.dialer_ms):.2f} "
            f"dialer_read_max_ms={max(self.dialer_ms):.2f} "
            f"leads={self.leads} active_lists={ACTIVE_LISTS}/{LISTS} "
            f"rounds={len(self.offsets_ms)} engine={self.engine}"
        )


async def measure(
    server: DatabaseUrl, engine: str, leads: int, rounds: int, *, keep: bool = False
) -> OffsetsResult:
    """Seed, then time `rounds` of each read."""
    bench_db = await seed.create(server, engine, leads, name_suffix="offsets")
    result = OffsetsResult(engine, leads)
    db = await Database.connect(bench_db.url, pool_size=2)
    try:
        await _vicidial_config(db)
        zone = ServerZone(db, None, setting="LEAD_ARCHIVE_TIMEZONE")
        for _ in range(rounds):
            offsets = LeadOffsets(db)
            started = time.perf_counter()
            await offsets.current()
            result.offsets_ms.append((time.perf_counter() - started) * 1000)
            hours = DialerHours(db, "LEAD_ARCHIVE_OFFICE_HOURS", frozenset(), zone, offsets)
            started = time.perf_counter()
            await hours._read()
            result.dialer_ms.append((time.perf_counter() - started) * 1000)
            result.longest_list_ms.append(await _longest_list(db))
    finally:
        await db.close()
        if not keep:
            await seed.drop(bench_db)
    return result


async def _vicidial_config(db: Database) -> None:
    """Lists 1000…1019 (the first ten active) over four campaigns, each on 9am-9pm."""
    async with db.session() as session:
        for number in range(CAMPAIGNS):
            await session.execute(
                f"INSERT INTO {sql.CAMPAIGNS} (campaign_id, active, local_call_time) "
                "VALUES (%s, 'Y', '9am-9pm')",
                [f"C{number}"],
            )
        for number in range(LISTS):
            await session.execute(
                f"INSERT INTO {sql.LISTS} (list_id, campaign_id, active) VALUES (%s, %s, %s)",
                [1000 + number, f"C{number % CAMPAIGNS}", "Y" if number < ACTIVE_LISTS else "N"],
            )


async def _longest_list(db: Database) -> float:
    """The slowest single list's statement (server time), as one statement holds the lock."""
    async with db.session() as session:
        await session.execute("SET profiling = 1")
        for number in range(ACTIVE_LISTS):
            await session.fetch_all(sql.lead_offsets_of_lists(1), [1000 + number])
        profiles = (await session.fetch_all("SHOW PROFILES"))[-ACTIVE_LISTS:]
        await session.execute("SET profiling = 0")
    return max(float(row[1]) for row in profiles) * 1000
