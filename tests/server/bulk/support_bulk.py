"""What the bulk tests share besides their fixtures (tests/server/bulk/conftest.py)."""

from __future__ import annotations

import io

from lead_archive_server.bulk.job import Job, open_source
from lead_archive_server.bulk.selection import Selection
from rich.console import Console
from rich.table import Table

from tests.support import TestDb


def rendered(table: Table) -> str:
    console = Console(file=io.StringIO(), width=100)
    console.print(table)
    return console.file.getvalue()


LEADS_FOR_SELECTION = [
    # lead_id, list_id, status, last_local_call_time, entry_date
    (1, 101, "NEW", "2023-06-01 10:00:00", "2023-01-01 00:00:00"),
    (2, 101, "SALE", "2024-06-01 10:00:00", "2023-01-01 00:00:00"),
    (3, 102, "NEW", None, "2024-06-01 00:00:00"),
    (4, 201, "NEW", "2023-06-01 10:00:00", "2023-01-01 00:00:00"),
    (5, 301, "DNC", "2023-12-31 23:59:59", "2024-01-01 00:00:00"),
    # Never called, loaded by Vicidial's list loader: last_local_call_time 2008-01-01.
    (7, 401, "NEW", "2008-01-01 00:00:00", "2024-06-01 00:00:00"),
]
LISTS = [(101, "CAMPA", "Y"), (102, "CAMPA", "N"), (201, "CAMPB", "Y"), (301, "CAMPC", None)]


async def selected(tdb: TestDb, selection: Selection, page_size: int = 500) -> list[int]:
    source = await open_source(tdb.db, Job(selection=selection, batch_size=page_size))
    ids = [lead_id async for page in source.pages() for lead_id in page]
    assert source.total == len(ids)
    return ids


EVERY_LEAD = Job(selection=Selection(list_ids=(1001,)), batch_size=100, concurrency=3)
