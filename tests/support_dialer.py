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
    # Due, but held back by the campaign's 24-hour call limit (AST_VDhopper.pl reads it as due).
    "callback TFHCCL": "INSERT INTO vicidial_callbacks (lead_id, list_id, campaign_id, status, "
    "callback_time) VALUES (%s, 1001, 'CAMP', 'TFHCCL', NOW())",
    # On a preview screen: vdc_db_query.php names the lead only here (lead_id stays 0).
    "agent preview": "INSERT INTO vicidial_live_agents (user, server_ip, status, lead_id, "
    "campaign_id, preview_lead_id) VALUES ('agent3', '10.0.0.1', 'PAUSED', 0, 'CAMP', %s)",
    # Switched to by the agent API's switch_lead (alone here: the call's own lead_id is 0).
    "agent switch": "INSERT INTO vicidial_live_agents (user, server_ip, status, lead_id, "
    "campaign_id, external_lead_id) VALUES ('agent4', '10.0.0.1', 'INCALL', 0, 'CAMP', %s)",
}
# Rows that name a lead without putting it in use.
NOT_IN_USE = {
    "callback INACTIVE": "INSERT INTO vicidial_callbacks (lead_id, list_id, campaign_id, status) "
    "VALUES (%s, 1001, 'CAMP', 'INACTIVE')",
    "callback ARCHIVE": "INSERT INTO vicidial_callbacks (lead_id, list_id, campaign_id, status) "
    "VALUES (%s, 1001, 'CAMP', 'ARCHIVE')",
    # An agent waiting for a call: lead_id, preview_lead_id and external_lead_id all 0;
    # another agent's lead (the row names %s nowhere but in its comments).
    "agent idle": "INSERT INTO vicidial_live_agents (user, server_ip, status, lead_id, "
    "preview_lead_id, external_lead_id, callerid) VALUES ('agent2', '10.0.0.1', 'READY', 0, 0, "
    "0, CONCAT('L', %s))",
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
    """Calls, agents' screens (dialled, previewed or switched to) and due callbacks naming a
    lead gone from vicidial_list."""
    found: list[int] = []
    for table, column, where in (
        ("vicidial_auto_calls", "lead_id", ""),
        ("vicidial_live_agents", "lead_id", ""),
        ("vicidial_live_agents", "preview_lead_id", ""),
        ("vicidial_live_agents", "external_lead_id", ""),
        ("vicidial_callbacks", "lead_id", " AND d.status IN ('ACTIVE','LIVE','TFHCCL')"),
    ):
        rows = await tdb.fetch(
            f"SELECT d.{column} FROM {table} d LEFT JOIN {LEADS} l ON l.lead_id = d.{column} "
            f"WHERE l.lead_id IS NULL AND d.{column} <> 0{where}"
        )
        found += [int(row[0]) for row in rows]
    return found
