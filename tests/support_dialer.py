"""Vicidial's dialer in tests: rows that put a lead in use (CONTRACT 6), and orphan checks."""

from __future__ import annotations

from collections.abc import Sequence

from tests.support import LEADS, TestDb

# Each way the dialer uses a lead, as the row Vicidial writes for it (%s: the lead_id).
IN_USE = {
    "call": "INSERT INTO vicidial_auto_calls (server_ip, campaign_id, status, lead_id, "
    "callerid, call_time) VALUES ('10.0.0.1', 'CAMP', 'LIVE', %s, 'V1', NOW())",
    "agent": "INSERT INTO vicidial_live_agents (user, server_ip, status, lead_id, campaign_id) "
    "VALUES ('agent1', '10.0.0.1', 'INCALL', %s, 'CAMP')",
    "hopper QUEUE": "INSERT INTO vicidial_hopper (lead_id, campaign_id, status, list_id) "
    "VALUES (%s, 'CAMP', 'QUEUE', 1001)",
    "hopper INCALL": "INSERT INTO vicidial_hopper (lead_id, campaign_id, status, list_id) "
    "VALUES (%s, 'CAMP', 'INCALL', 1001)",
    "hopper DONE": "INSERT INTO vicidial_hopper (lead_id, campaign_id, status, list_id) "
    "VALUES (%s, 'CAMP', 'DONE', 1001)",
    "callback ACTIVE": "INSERT INTO vicidial_callbacks (lead_id, list_id, campaign_id, status, "
    "callback_time) VALUES (%s, 1001, 'CAMP', 'ACTIVE', NOW())",
    "callback LIVE": "INSERT INTO vicidial_callbacks (lead_id, list_id, campaign_id, status, "
    "callback_time) VALUES (%s, 1001, 'CAMP', 'LIVE', NOW())",
}
# Rows that name a lead without putting it in use.
NOT_IN_USE = {
    "callback INACTIVE": "INSERT INTO vicidial_callbacks (lead_id, list_id, campaign_id, status) "
    "VALUES (%s, 1001, 'CAMP', 'INACTIVE')",
    "callback ARCHIVE": "INSERT INTO vicidial_callbacks (lead_id, list_id, campaign_id, status) "
    "VALUES (%s, 1001, 'CAMP', 'ARCHIVE')",
    # An agent waiting for a call: lead_id 0 (the lead is only its preview, here %s).
    "agent idle": "INSERT INTO vicidial_live_agents (user, server_ip, status, lead_id, "
    "preview_lead_id) VALUES ('agent2', '10.0.0.1', 'READY', 0, %s)",
}
READY_ROW = (
    "INSERT INTO vicidial_hopper (lead_id, campaign_id, status, list_id) "
    "VALUES (%s, 'CAMP', 'READY', 1001)"
)


async def put_in_use(tdb: TestDb, lead_id: int, how: str) -> None:
    await tdb.execute(IN_USE[how], [lead_id])


async def add_ready_rows(tdb: TestDb, lead_ids: Sequence[int]) -> None:
    for lead_id in lead_ids:
        await tdb.execute(READY_ROW, [lead_id])


async def hopper_rows(tdb: TestDb) -> list[tuple[int, str]]:
    """(lead_id, status) of every hopper row, sorted."""
    rows = await tdb.fetch("SELECT lead_id, status FROM vicidial_hopper")
    return sorted((int(lead_id), str(status)) for lead_id, status in rows)


async def orphan_hopper_rows(tdb: TestDb) -> list[tuple[int, str]]:
    """Hopper rows naming a lead that is not in vicidial_list (must never exist)."""
    rows = await tdb.fetch(
        f"SELECT h.lead_id, h.status FROM vicidial_hopper h LEFT JOIN {LEADS} l "
        "ON l.lead_id = h.lead_id WHERE l.lead_id IS NULL"
    )
    return [(int(lead_id), str(status)) for lead_id, status in rows]


async def orphan_calls(tdb: TestDb) -> list[int]:
    """Calls, agents' screens and due callbacks naming a lead gone from vicidial_list."""
    found: list[int] = []
    for table, where in (
        ("vicidial_auto_calls", ""),
        ("vicidial_live_agents", " AND d.lead_id <> 0"),
        ("vicidial_callbacks", " AND d.status IN ('ACTIVE','LIVE')"),
    ):
        rows = await tdb.fetch(
            f"SELECT d.lead_id FROM {table} d LEFT JOIN {LEADS} l ON l.lead_id = d.lead_id "
            f"WHERE l.lead_id IS NULL{where}"
        )
        found += [int(row[0]) for row in rows]
    return found
