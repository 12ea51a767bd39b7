"""API keys and the access guard against the real database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from lead_archive_server.access.guard import AccessGuard
from lead_archive_server.access.keys import (
    InvalidUserName,
    create_key,
    key_from_authorization,
    list_keys,
    revoke_key,
    revoke_user_keys,
    user_for_key,
)
from lead_archive_server.access.schedules import office_hours_source
from lead_archive_server.core.errors import OfficeHours, ServerError, Unauthenticated
from lead_archive_server.runtime.settings import Settings

from tests.support import TestDb

SUNDAY_NOON_UTC = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
MONDAY_NOON_UTC = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CHRISTMAS_NOON_UTC = datetime(2026, 12, 25, 12, 0, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Key=abcdefghijklmnop", "abcdefghijklmnop"),
        ("Key= abcdefghijklmnop ", "abcdefghijklmnop"),
        ("Key=short", None),
        ("key=abcdefghijklmnop", None),
        ("Bearer abcdefghijklmnop", None),
        ("Key=abc def ghi jkl mnop", None),
        ("", None),
        (None, None),
    ],
)
def test_key_from_authorization(header, key) -> None:
    assert key_from_authorization(header) == key


async def test_keys_are_stored_only_as_sha256_hashes(tdb: TestDb) -> None:
    key = await create_key(tdb.db, "6666")
    assert len(key) >= 43  # 256 random bits, url-safe base64
    stored = await tdb.fetch("SELECT api_user, key_hash FROM lead_archive_api_keys")
    assert stored == [("6666", hashlib.sha256(key.encode()).hexdigest())]
    assert await user_for_key(tdb.db, key) == "6666"
    assert await user_for_key(tdb.db, key + "x") is None


async def test_keys_are_unique_and_revocable(tdb: TestDb) -> None:
    first, second = await create_key(tdb.db, "6666"), await create_key(tdb.db, "6666")
    other = await create_key(tdb.db, "api")
    assert first != second
    listed = await list_keys(tdb.db)
    assert [(k.api_user, k.revoked_at) for k in listed] == [
        ("6666", None),
        ("6666", None),
        ("api", None),
    ]
    assert await revoke_key(tdb.db, listed[0].key_id)
    assert not await revoke_key(tdb.db, listed[0].key_id)
    assert await user_for_key(tdb.db, first) is None
    assert await user_for_key(tdb.db, second) == "6666"
    assert await revoke_user_keys(tdb.db, "6666") == 1
    assert await user_for_key(tdb.db, second) is None
    assert await user_for_key(tdb.db, other) == "api"


@pytest.mark.parametrize(
    "user", ["", "has space", "x" * 21, "Zoë", "李", "ops\x1b[2J", "tab\there", "nul\x00"]
)
async def test_bad_user_names_are_refused(tdb: TestDb, user: str) -> None:
    with pytest.raises(InvalidUserName, match="1 to 20 printable ASCII characters without spaces"):
        await create_key(tdb.db, user)
    assert await tdb.count("lead_archive_api_keys") == 0


def settings_for(tdb: TestDb, **overrides) -> Settings:
    values = {"database_url": tdb.db.url.url(), "timezone": "Europe/London"}
    return Settings(**(values | overrides))


async def guard_for(tdb: TestDb, now: datetime, **overrides) -> tuple[AccessGuard, str]:
    settings = settings_for(tdb, **overrides)
    guard = AccessGuard(tdb.db, office_hours_source(settings.server.office, tdb.db), lambda: now)
    return guard, f"Key={await create_key(tdb.db, 'ops')}"


async def test_guard_checks_key_then_office_hours(tdb: TestDb) -> None:
    guard, header = await guard_for(tdb, MONDAY_NOON_UTC)
    with pytest.raises(Unauthenticated):
        await guard.admit("Key=nobody-has-this-key-0123")
    with pytest.raises(OfficeHours):
        await guard.admit(header)
    night, header = await guard_for(tdb, SUNDAY_NOON_UTC)
    assert await night.admit(header) == "ops"


async def test_holiday_setting_lifts_office_hours(tdb: TestDb) -> None:
    guard, header = await guard_for(tdb, CHRISTMAS_NOON_UTC, holidays="2026-12-25")
    assert await guard.admit(header) == "ops"


async def test_call_time_from_vicidial_decides_office_hours(tdb: TestDb) -> None:
    # 9am-9pm every day; Sunday closed by its own 2400-2400 override.
    await tdb.execute(
        "UPDATE vicidial_call_times SET ct_sunday_start = 2400, ct_sunday_stop = 2400"
    )
    guard, header = await guard_for(tdb, MONDAY_NOON_UTC, call_time_id="9am-9pm")
    with pytest.raises(OfficeHours):
        await guard.admit(header)
    sunday, header = await guard_for(tdb, SUNDAY_NOON_UTC, call_time_id="9am-9pm")
    assert await sunday.admit(header) == "ops"


async def test_call_time_is_read_on_every_request(tdb: TestDb) -> None:
    guard, header = await guard_for(tdb, MONDAY_NOON_UTC, call_time_id="9am-9pm")
    with pytest.raises(OfficeHours):
        await guard.admit(header)
    await tdb.execute("UPDATE vicidial_call_times SET ct_default_start = 1300")
    assert await guard.admit(header) == "ops"


@pytest.mark.parametrize(("status", "closed_on_christmas"), [("ACTIVE", True), ("INACTIVE", False)])
async def test_active_call_time_holidays_apply(
    tdb: TestDb, status: str, closed_on_christmas: bool
) -> None:
    await tdb.execute(
        "INSERT INTO vicidial_call_time_holidays (holiday_id, holiday_name, holiday_date, "
        "holiday_status, ct_default_start, ct_default_stop) "
        "VALUES ('xmas', 'Christmas', '2026-12-25', %s, 2400, 2400)",
        [status],
    )
    await tdb.execute("UPDATE vicidial_call_times SET ct_holidays = '|xmas|'")
    guard, header = await guard_for(tdb, CHRISTMAS_NOON_UTC, call_time_id="9am-9pm")
    if closed_on_christmas:
        assert await guard.admit(header) == "ops"
    else:
        with pytest.raises(OfficeHours):
            await guard.admit(header)


async def test_vanished_call_time_is_a_server_error_naming_no_setting(tdb: TestDb) -> None:
    guard, header = await guard_for(tdb, SUNDAY_NOON_UTC, call_time_id="9am-9pm")
    await tdb.execute("DELETE FROM vicidial_call_times WHERE call_time_id = '9am-9pm'")
    with pytest.raises(ServerError) as caught:
        await guard.admit(header)
    assert caught.value.message == (
        "office hours cannot be read: their Vicidial call time no longer exists"
    )
    assert "LEAD_ARCHIVE" not in caught.value.message
