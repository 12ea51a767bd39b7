"""Office hours as Vicidial's dialer keeps them (CONTRACT 9): a call time at each lead's own
local time, the database server's clock as the server's local time, and
LEAD_ARCHIVE_OFFICE_HOURS=dialer, on both engines of vicidial_list."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from lead_archive_server.access.schedules import (
    DialerHours,
    LeadOffsets,
    ServerZone,
    office_hours_source,
)
from lead_archive_server.cli.commands import app
from lead_archive_server.core.errors import ServerError
from lead_archive_server.runtime.settings import SettingsError, load_settings
from typer.testing import CliRunner

from tests.processes import environment, free_port, read_until, running
from tests.support import TestDb, wait_until
from tests.support_ops import NIGHT, ops_stack, settings_for

# NIGHT is Sunday 03:00 UTC: Saturday 22:00 in New York (-5), Sunday 12:00 in Tokyo (+9).
NEW_YORK, TOKYO = "-5.00", "9.00"


class Ticker:
    """A monotonic clock the test moves by hand (cache ages)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def add_list(tdb: TestDb, list_id: int, *, active: str = "Y", **columns: str) -> None:
    values = {"list_id": list_id, "active": active, "campaign_id": "CAMP"} | columns
    names = ", ".join(values)
    await tdb.execute(
        f"INSERT INTO vicidial_lists ({names}) VALUES ({', '.join(['%s'] * len(values))})",
        list(values.values()),
    )


async def add_campaign(tdb: TestDb, campaign_id: str = "CAMP", **columns: str) -> None:
    values = {"campaign_id": campaign_id, "active": "Y", "local_call_time": "9am-9pm"} | columns
    names = ", ".join(values)
    await tdb.execute(
        f"INSERT INTO vicidial_campaigns ({names}) VALUES ({', '.join(['%s'] * len(values))})",
        list(values.values()),
    )


async def status_of(tdb: TestDb, **settings: str) -> int:
    """The REST status of one batch at NIGHT under these settings (a lead of list 9)."""
    async with ops_stack(tdb, **settings) as stack:
        response = await stack.post(await tdb.seed(1, list_id=9, gmt_offset_now="0.00"))
    return response.status_code


# --- A call time at each lead's local time ---------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "active", "status"),
    [
        (TOKYO, "Y", 403),  # noon in Tokyo: the hopper dials these leads
        (TOKYO, "N", 200),  # ... but not from an inactive list
        (NEW_YORK, "Y", 200),  # 22:00 Saturday in New York: outside 9am-9pm
        ("5.75", "Y", 200),  # Kathmandu: 08:45, before 9am
        ("6.00", "Y", 403),  # Dhaka: 09:00 sharp, inside
        (None, "Y", 200),  # no offset: no zone to read
        ("-13.00", "Y", 200),  # outside Vicidial's range: ignored
    ],
)
async def test_a_call_time_open_only_in_the_leads_zone(
    tdb: TestDb, offset: str | None, active: str, status: int
) -> None:
    await add_list(tdb, 1001, active=active)
    await tdb.seed(3, list_id=1001, gmt_offset_now=offset)
    # The server is on UTC: 03:00 is outside 9am-9pm there, for outbound and inbound alike.
    assert await status_of(tdb, call_time_id="9am-9pm", timezone="UTC") == status


async def test_the_inbound_reading_stays_at_the_servers_time(tdb: TestDb) -> None:
    # Inbound overflow past midnight: yesterday (Saturday) ran until 03:30 (2730).
    await tdb.execute(
        "UPDATE vicidial_call_times SET ct_saturday_start = 900, ct_saturday_stop = 2730 "
        "WHERE call_time_id = '9am-9pm'"
    )
    await add_list(tdb, 1001)
    await tdb.seed(1, list_id=1001, gmt_offset_now=NEW_YORK)
    assert await status_of(tdb, call_time_id="9am-9pm", timezone="UTC") == 403


async def test_offsets_are_read_once_a_minute_in_the_background(tdb: TestDb) -> None:
    await add_list(tdb, 1001)
    await tdb.seed(1, list_id=1001, gmt_offset_now=NEW_YORK)
    ticker = Ticker()
    offsets = LeadOffsets(tdb.db, max_age_s=60, ticker=ticker)
    try:
        assert await offsets.current() == {1001: frozenset({Decimal("-5.00")})}
        await tdb.seed(1, list_id=1001, gmt_offset_now=TOKYO)
        ticker.now += 59
        assert await offsets.current() == {1001: frozenset({Decimal("-5.00")})}
        ticker.now += 1  # a minute old: this request still gets the last read, and starts one
        assert await offsets.current() == {1001: frozenset({Decimal("-5.00")})}
        await wait_until(lambda: offsets.read_count == 2, 5, "the offsets read again")
        assert await offsets.current() == {1001: frozenset({Decimal("-5.00"), Decimal("9.00")})}
    finally:
        await offsets.close()


# --- The database server's clock ---------------------------------------------------------------


@asynccontextmanager
async def database_time_zone(tdb: TestDb, zone: str) -> AsyncIterator[None]:
    """The database server's zone set to `zone` (SET GLOBAL time_zone), then put back."""
    before = (await tdb.fetch("SELECT @@global.time_zone"))[0][0]
    await tdb.execute("SET GLOBAL time_zone = %s", [zone])
    try:
        yield
    finally:
        await tdb.execute("SET GLOBAL time_zone = %s", [before])


async def test_the_database_clock_is_the_default_zone(tdb: TestDb) -> None:
    # Monday 22:30 UTC is 17:30 at -05:00: inside mon-fri 08:00-18:00 there, not in UTC.
    monday_late = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)
    async with database_time_zone(tdb, "-05:00"):
        source = office_hours_source(
            settings_for(tdb, office_hours="mon-fri 08:00-18:00").server.office, tdb.db
        )
        assert await source.start() == []
        assert (await source.schedule()).is_office_time(monday_late)
        assert "UTC-05:00 (the database server's clock" in source.describe()
    utc = office_hours_source(settings_for(tdb, timezone="UTC").server.office, tdb.db)
    assert not (await utc.schedule()).is_office_time(monday_late)
    assert "UTC (from LEAD_ARCHIVE_TIMEZONE)" in utc.describe()


async def test_the_database_clock_is_read_again_for_dst(tdb: TestDb) -> None:
    ticker = Ticker()
    zone = ServerZone(tdb.db, None, setting="LEAD_ARCHIVE_TIMEZONE", max_age_s=900, ticker=ticker)
    async with database_time_zone(tdb, "-05:00"):
        assert await zone.get() == timezone(timedelta(hours=-5))
    async with database_time_zone(tdb, "-04:00"):  # the clocks went forward
        ticker.now += 899
        assert await zone.get() == timezone(timedelta(hours=-5))
        ticker.now += 1
        assert await zone.get() == timezone(timedelta(hours=-4))


# --- LEAD_ARCHIVE_OFFICE_HOURS=dialer ----------------------------------------------------------


@asynccontextmanager
async def dialer_hours(tdb: TestDb) -> AsyncIterator[tuple[DialerHours, Ticker]]:
    ticker = Ticker()
    zone = ServerZone(tdb.db, None, setting="LEAD_ARCHIVE_TIMEZONE")
    offsets = LeadOffsets(tdb.db, ticker=ticker)
    hours = DialerHours(
        tdb.db, "LEAD_ARCHIVE_OFFICE_HOURS", frozenset(), zone, offsets, ticker=ticker
    )
    try:
        yield hours, ticker
    finally:
        await hours.close()


async def office(hours: DialerHours, at: datetime = NIGHT) -> bool:
    return (await hours.schedule()).is_office_time(at)


@pytest.mark.parametrize(
    "row",
    [
        "INSERT INTO vicidial_live_agents (user, server_ip, status, lead_id) "
        "VALUES ('agent1', '10.0.0.1', 'PAUSED', 0)",
        "INSERT INTO vicidial_auto_calls (server_ip, campaign_id, status, lead_id) "
        "VALUES ('10.0.0.1', 'CAMP', 'RINGING', 0)",
    ],
)
async def test_an_agent_logged_in_or_a_call_up_is_office_hours_within_5_s(
    tdb: TestDb, row: str
) -> None:
    async with dialer_hours(tdb) as (hours, ticker):
        assert not await office(hours)
        await tdb.execute(row)
        ticker.now += 4.9
        assert not await office(hours)  # the cached read, under 5 s old
        ticker.now += 0.1
        assert await office(hours)
        await tdb.reset_dialer()
        ticker.now += 5
        assert not await office(hours)


async def test_an_active_campaign_that_could_dial_its_leads(tdb: TestDb) -> None:
    await add_campaign(tdb)  # 9am-9pm
    await add_list(tdb, 1001)
    await tdb.seed(2, list_id=1001, gmt_offset_now=NEW_YORK)
    async with dialer_hours(tdb) as (hours, ticker):
        assert not await office(hours)  # 22:00 in New York
        await tdb.seed(1, list_id=1001, gmt_offset_now=TOKYO)
        ticker.now += 60  # the offsets' minute: read in the background
        await office(hours)
        await wait_until(lambda: office(hours), 5, "office hours to begin")
        await tdb.execute("UPDATE vicidial_campaigns SET active = 'N'")
        ticker.now += 5
        assert not await office(hours)  # an inactive campaign dials nothing
        await tdb.execute("UPDATE vicidial_campaigns SET active = 'Y'")
        await tdb.execute("UPDATE vicidial_lists SET active = 'N'")
        ticker.now += 60
        await office(hours)
        await wait_until(lambda: negate(office(hours)), 5, "office hours to end")


async def test_a_list_with_its_own_call_time_uses_it(tdb: TestDb) -> None:
    await add_campaign(tdb, local_call_time="24hours")
    await add_list(tdb, 1001, local_call_time="9am-9pm")  # narrower than the campaign's
    await tdb.seed(1, list_id=1001, gmt_offset_now=NEW_YORK)
    async with dialer_hours(tdb) as (hours, ticker):
        assert not await office(hours)  # 22:00 in New York: the list's 9am-9pm is closed
        await tdb.execute("UPDATE vicidial_lists SET local_call_time = 'campaign'")
        ticker.now += 5
        assert await office(hours)  # the campaign's 24 hours


async def test_a_list_activated_since_the_last_offsets_read_counts_as_every_zone(
    tdb: TestDb,
) -> None:
    await add_campaign(tdb)
    await add_list(tdb, 1001, active="N")
    await tdb.seed(1, list_id=1001, gmt_offset_now=NEW_YORK)
    async with dialer_hours(tdb) as (hours, ticker):
        assert not await office(hours)
        await tdb.execute("UPDATE vicidial_lists SET active = 'Y'")
        ticker.now += 5
        # Not read yet, the list counts as every zone (EVERY_OFFSET): when in doubt, it waits.
        assert await office(hours)
        await wait_until(lambda: negate(office(hours)), 5, "office hours to end")  # offsets read


async def test_dialer_mode_start_up_warns_of_campaigns_that_always_dial(tdb: TestDb) -> None:
    await add_campaign(tdb, "ALWAYS", local_call_time="24hours")
    await add_campaign(tdb, "GHOST", local_call_time="nosuch")
    await add_campaign(tdb, "DAY")
    async with dialer_hours(tdb) as (hours, _):
        warnings = await hours.start()
    assert len(warnings) == 2
    assert warnings[0].startswith("campaign 'ALWAYS' dials around the clock (call time '24hours')")
    assert "'GHOST' names call time 'nosuch', which is not in vicidial_call_times" in warnings[1]


@pytest.mark.parametrize(
    "table",
    [
        "vicidial_live_agents",
        "vicidial_auto_calls",
        "vicidial_campaigns",
        "vicidial_lists",
        "vicidial_call_times",
        "vicidial_call_time_holidays",
    ],
)
async def test_dialer_mode_stops_start_up_without_a_dialer_table(tdb: TestDb, table: str) -> None:
    await tdb.execute(f"DROP TABLE {table}")
    async with dialer_hours(tdb) as (hours, _):
        with pytest.raises(ServerError) as refused:
            await hours.start()
    assert refused.value.message == (
        f"LEAD_ARCHIVE_OFFICE_HOURS=dialer: no {table} table in the database (it reads "
        "Vicidial's dialer tables; not a full Vicidial database?)"
    )


async def test_dialer_mode_over_the_api_and_readyz_stays_ready(tdb: TestDb) -> None:
    async with ops_stack(tdb, office_hours="dialer") as stack:
        await stack.ops.start()
        assert (await stack.post(await tdb.seed(1))).status_code == 200
        await tdb.execute(
            "INSERT INTO vicidial_live_agents (user, server_ip, status, lead_id) "
            "VALUES ('agent1', '10.0.0.1', 'PAUSED', 0)"
        )
        await wait_until(lambda: status_is(stack, 403), 10, "a 403 once an agent is logged in")
        assert (await stack.http.get("/readyz")).status_code == 200


def test_dialer_mode_and_a_call_time_are_not_set_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ARCHIVE_OFFICE_HOURS", "dialer")
    monkeypatch.setenv("LEAD_ARCHIVE_CALL_TIME_ID", "9am-9pm")
    with pytest.raises(SettingsError, match=r"^LEAD_ARCHIVE_CALL_TIME_ID: not with"):
        load_settings(database_url="mysql://u@h/db")


# --- Helpers ------------------------------------------------------------------------------------


async def status_is(stack, status: int) -> bool:
    return (await stack.post(await stack.tdb.seed(1))).status_code == status


async def negate(check) -> bool:
    return not await check


def test_dialer_mode_without_a_campaigns_table_stops_serve_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tdb: TestDb
) -> None:
    asyncio.run(_drop_campaigns(tdb))
    for name in ("LEAD_ARCHIVE_CONFIG", "LEAD_ARCHIVE_CALL_TIME_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEAD_ARCHIVE_DATABASE_URL", tdb.db.url.url())
    monkeypatch.setenv("LEAD_ARCHIVE_OFFICE_HOURS", "dialer")
    monkeypatch.setenv("LEAD_ARCHIVE_GRPC_PORT", "0")
    result = CliRunner().invoke(app, ["grpc"])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1] == (
        "lead-archive: LEAD_ARCHIVE_OFFICE_HOURS=dialer: no vicidial_campaigns table in the "
        "database (it reads Vicidial's dialer tables; not a full Vicidial database?)"
    )
    assert "Traceback" not in result.output


async def _drop_campaigns(tdb: TestDb) -> None:
    # A pool of this loop's own (the command runs in another).
    from lead_archive_server.core.db import Database

    db = await Database.connect(tdb.db.url, pool_size=1)
    try:
        async with db.session() as session:
            await session.execute("DROP TABLE vicidial_campaigns")
    finally:
        await db.close()


async def test_the_start_up_line_names_the_zone_and_where_it_came_from(tdb: TestDb) -> None:
    env = environment(database_url=tdb.db.url.url(), grpc_port=str(free_port()))
    async with database_time_zone(tdb, "+05:30"), running("grpc", env=env) as server:
        seen = await read_until(server.stderr, "office hours: ")
    assert (
        "office hours: mon-fri 08:00-18:00 at the server's local time: UTC+05:30 (the database "
        "server's clock; LEAD_ARCHIVE_TIMEZONE is not set)"
    ) in seen, seen
