"""Fixtures of the bulk tests: leads to select from, and the real stack with a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lead_archive_client import AsyncLeadArchiveClient

from tests.server.bulk.support_bulk import LEADS_FOR_SELECTION, LISTS
from tests.support import TestDb, lead_row
from tests.support_stack import QUICK_RETRY, Stack, running_stack


@pytest.fixture
async def selection_db(tdb: TestDb) -> TestDb:
    await tdb.insert_leads(
        [
            lead_row(
                lead_id=lead_id,
                list_id=list_id,
                status=status,
                last_local_call_time=called,
                entry_date=entered,
            )
            for lead_id, list_id, status, called, entered in LEADS_FOR_SELECTION
        ]
    )
    for list_id, campaign, active in LISTS:
        await tdb.execute(
            "INSERT INTO vicidial_lists (list_id, list_name, campaign_id, active) "
            "VALUES (%s, 'test', %s, %s)",
            [list_id, campaign, active],
        )
    return tdb


@pytest.fixture
async def rig(tdb: TestDb) -> AsyncIterator[tuple[Stack, AsyncLeadArchiveClient]]:
    async with (
        running_stack(tdb) as stack,
        AsyncLeadArchiveClient(stack.grpc_target, stack.key, retry=QUICK_RETRY) as client,
    ):
        yield stack, client
