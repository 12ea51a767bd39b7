"""Whole lists: `lead-archive archive --list-id` as a process, against the floor's SQL loop.

The process is timed from exec to exit: interpreter start-up, imports, the selection count,
every page and batch, and the summary. The floor is the hand-written loop a DBA would write
on one plain connection: read the next page of the list's lead IDs (the same keyset query the
command uses), archive it with the server's own insert and compare-before-delete in one
transaction, repeat. Its connection and the column list are ready before its clock starts, so
the floor has no start-up at all.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lead_archive_server.bulk.selection import Selection
from lead_archive_server.core import sql
from lead_archive_server.core.database_url import DatabaseUrl

from bench.floor import open_floor

LEAD_ARCHIVE = str(Path(sys.executable).parent / "lead-archive")
TIMEOUT_S = 900
_SUMMARY_ROW = re.compile(r"│\s*(selected|deleted|errors|left for a rerun)\s*│\s*(\d+)\s*│")


@dataclass(frozen=True)
class BulkRun:
    """One whole list moved: how many leads, in how many seconds."""

    leads: int
    seconds: float

    @property
    def leads_per_s(self) -> float:
        return self.leads / self.seconds if self.seconds else 0.0


async def floor_list(url: DatabaseUrl, list_id: int, batch_size: int) -> BulkRun:
    """Archive a whole list with the floor's SQL, one page at a time, on one connection."""
    where = Selection(list_ids=(list_id,)).where()
    page_sql = sql.select_page(where)
    async with open_floor(url) as floor:
        session = floor.session
        moved, last = 0, 0
        started = time.perf_counter()
        while True:
            rows = await session.fetch_all(page_sql, (last, *where.args, batch_size))
            if not rows:
                break
            page = [int(row[0]) for row in rows]
            await floor.archive(page)
            moved, last = moved + len(page), page[-1]
        seconds = time.perf_counter() - started
    return BulkRun(moved, seconds)


async def process_list(
    url: DatabaseUrl,
    target: str,
    api_key: str,
    list_id: int,
    batch_size: int,
    extra: Mapping[str, str],
    options: Sequence[str] = (),
) -> BulkRun:
    """Run `lead-archive archive --list-id` (and `options`) to the end; time the whole
    process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAD_ARCHIVE_")}
    env |= {
        "LEAD_ARCHIVE_DATABASE_URL": url.url(),
        "LEAD_ARCHIVE_TARGET": target,
        "LEAD_ARCHIVE_API_KEY": api_key,
        "COLUMNS": "120",
    }
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        LEAD_ARCHIVE,
        "archive",
        "--list-id",
        str(list_id),
        "--batch-size",
        str(batch_size),
        *options,
        env=env | dict(extra),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    seconds = time.perf_counter() - started
    text = out.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(
            f"lead-archive archive exited {process.returncode}:\n{text[-1500:]}"
            f"{err.decode(errors='replace')[-1500:]}"
        )
    counts = {name: int(value) for name, value in _SUMMARY_ROW.findall(text)}
    if counts.get("errors") or counts.get("left for a rerun") or "deleted" not in counts:
        raise RuntimeError(f"lead-archive archive left leads behind:\n{text}")
    return BulkRun(counts["deleted"], seconds)
