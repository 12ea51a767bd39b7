"""Tests for server.office_hours: when the API must refuse to run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lead_archive_server.access.office_hours import (
    CallTimeHours,
    OfficeHours,
    OfficeHoursError,
    office_hours_from_call_time,
    parse_holidays,
    parse_office_hours,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")

# The week used below: Mon 2026-06-29 .. Sun 2026-07-05 (British Summer Time).
MON, TUE, WED, THU, FRI, SAT, SUN = (
    "2026-06-29",
    "2026-06-30",
    "2026-07-01",
    "2026-07-02",
    "2026-07-03",
    "2026-07-04",
    "2026-07-05",
)


def at(day: str, clock: str, tz: ZoneInfo = LONDON) -> datetime:
    """Build an aware local datetime such as at(FRI, "17:59")."""
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=tz)


def london(spec: str, holidays: str = "") -> OfficeHours:
    return parse_office_hours(spec, timezone=LONDON, holidays=holidays)


def office_minutes(hours: OfficeHours | CallTimeHours, start_utc: datetime, span: timedelta) -> int:
    """Count the real (UTC) minutes in [start, start + span) that are office time."""
    minutes = int(span.total_seconds() // 60)
    return sum(hours.is_office_time(start_utc + timedelta(minutes=i)) for i in range(minutes))


# --- LEAD_ARCHIVE_OFFICE_HOURS --------------------------------------------------------------


def test_week_dates_are_the_weekdays_the_tests_assume() -> None:
    days = [MON, TUE, WED, THU, FRI, SAT, SUN]
    assert [date.fromisoformat(day).weekday() for day in days] == list(range(7))


@pytest.mark.parametrize(
    ("day", "clock", "expected"),
    [
        (MON, "07:59", False),
        (MON, "08:00", True),
        (WED, "12:00", True),
        (FRI, "17:59", True),
        (FRI, "18:00", False),
        (FRI, "23:59", False),
        (SAT, "12:00", False),
        (SUN, "12:00", False),
    ],
)
def test_default_setting_covers_weekdays_only(day: str, clock: str, expected: bool) -> None:
    assert london("mon-fri 08:00-18:00").is_office_time(at(day, clock)) is expected


@pytest.mark.parametrize(
    ("day", "clock", "expected"),
    [
        (SAT, "19:59", False),
        (SAT, "20:00", True),
        (SAT, "23:59", True),
        (SUN, "00:00", False),
    ],
)
def test_2400_means_end_of_day(day: str, clock: str, expected: bool) -> None:
    assert london("sat 20:00-24:00").is_office_time(at(day, clock)) is expected


def test_whole_day_window() -> None:
    hours = london("sun 00:00-24:00")
    assert hours.is_office_time(at(SUN, "00:00"))
    assert hours.is_office_time(at(SUN, "23:59"))
    assert not hours.is_office_time(at(SAT, "23:59"))


@pytest.mark.parametrize(
    ("spec", "day", "clock", "expected"),
    [
        ("fri 22:00-06:00", FRI, "21:59", False),
        ("fri 22:00-06:00", FRI, "22:00", True),
        ("fri 22:00-06:00", FRI, "23:59", True),
        ("fri 22:00-06:00", SAT, "00:00", True),
        ("fri 22:00-06:00", SAT, "05:59", True),
        ("fri 22:00-06:00", SAT, "06:00", False),
        # The night before Friday is not covered: the window starts on Friday.
        ("fri 22:00-06:00", FRI, "03:00", False),
        ("fri 22:00-06:00", SAT, "22:30", False),
        # Sunday night spills over into Monday, across the end of the week.
        ("sun 23:00-01:00", MON, "00:30", True),
        ("sun 23:00-01:00", SUN, "00:30", False),
        # A window ending at 00:00 stops at midnight and adds nothing to the next day.
        ("fri 22:00-00:00", FRI, "23:59", True),
        ("fri 22:00-00:00", SAT, "00:00", False),
    ],
)
def test_window_crossing_midnight_continues_next_day(
    spec: str, day: str, clock: str, expected: bool
) -> None:
    assert london(spec).is_office_time(at(day, clock)) is expected


@pytest.mark.parametrize("spec", ["none", "NONE", "  None \n"])
def test_none_means_never_office_time(spec: str) -> None:
    hours = london(spec)
    week_start = at(MON, "00:00").astimezone(UTC)
    assert office_minutes(hours, week_start, timedelta(days=7)) == 0
    assert hours.describe() == "none (Europe/London)"


@pytest.mark.parametrize(
    ("clock", "expected"),
    [("07:59", False), ("08:00", True), ("12:30", False), ("13:00", True), ("16:59", True)],
)
def test_entries_naming_the_same_day_add_up(clock: str, expected: bool) -> None:
    hours = london("mon 08:00-12:00, mon 13:00-17:00, mon 10:00-11:30")
    assert hours.is_office_time(at(MON, clock)) is expected


def test_mixed_entries_from_the_contract_example() -> None:
    hours = london("mon-fri 08:00-18:00, sat 09:00-13:00")
    assert hours.is_office_time(at(SAT, "12:59"))
    assert not hours.is_office_time(at(SAT, "13:00"))
    assert not hours.is_office_time(at(SUN, "10:00"))


@pytest.mark.parametrize(
    ("spec", "open_days"),
    [
        ("fri-mon 10:00-11:00", {FRI, SAT, SUN, MON}),
        ("Monday-Wednesday 10:00-11:00", {MON, TUE, WED}),
        ("SAT 10:00-11:00", {SAT}),
        ("thurs 10:00-11:00", {THU}),
        ("wed-wed 10:00-11:00", {WED}),
    ],
)
def test_day_names_and_wrapping_ranges(spec: str, open_days: set[str]) -> None:
    hours = london(spec)
    for day in (MON, TUE, WED, THU, FRI, SAT, SUN):
        assert hours.is_office_time(at(day, "10:30")) is (day in open_days), day


@pytest.mark.parametrize(
    ("day", "clock", "expected"),
    [
        ("2026-12-24", "12:00", True),
        ("2026-12-25", "12:00", False),
        ("2026-12-28", "12:00", True),
        ("2027-01-01", "12:00", False),
    ],
)
def test_holidays_have_no_office_hours(day: str, clock: str, expected: bool) -> None:
    hours = london("mon-fri 08:00-18:00", holidays="2026-12-25, 2027-01-01")
    assert hours.is_office_time(at(day, clock)) is expected


def test_holiday_removes_the_tail_of_a_window_from_the_night_before() -> None:
    hours = london("thu 22:00-06:00", holidays="2026-12-25")
    assert hours.is_office_time(at("2026-12-24", "23:00"))
    assert not hours.is_office_time(at("2026-12-25", "01:00"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", frozenset()),
        ("   ", frozenset()),
        ("2026-12-25", frozenset({date(2026, 12, 25)})),
        (" 2026-12-25 ,2027-01-01 ", frozenset({date(2026, 12, 25), date(2027, 1, 1)})),
    ],
)
def test_parse_holidays(text: str, expected: frozenset[date]) -> None:
    assert parse_holidays(text) == expected


@pytest.mark.parametrize(
    ("text", "bad_item"),
    [
        ("2026-13-01", "2026-13-01"),
        ("2026-02-30", "2026-02-30"),
        ("25/12/2026", "25/12/2026"),
        ("2026-2-3", "2026-2-3"),
        ("20261225", "20261225"),
        ("2026-12-25,", ""),
        ("2026-12-25, christmas", "christmas"),
    ],
)
def test_bad_holiday_names_the_item(text: str, bad_item: str) -> None:
    """The parser names the item; the settings put the setting's name in front (test_settings)."""
    with pytest.raises(OfficeHoursError) as caught:
        parse_holidays(text)
    assert str(caught.value) == f"cannot parse {bad_item!r}: expected a date YYYY-MM-DD"


def test_bad_holiday_is_reported_by_parse_office_hours_too() -> None:
    with pytest.raises(OfficeHoursError, match=r"^cannot parse 'xmas'"):
        london("mon-fri 08:00-18:00", holidays="xmas")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("mon-fry 08:00-18:00", "cannot parse 'mon-fry 08:00-18:00': unknown day 'fry'"),
        ("funday 08:00-18:00", "cannot parse 'funday 08:00-18:00': unknown day 'funday'"),
        (
            "mon-tue-wed 08:00-18:00",
            "cannot parse 'mon-tue-wed 08:00-18:00': "
            "bad day range 'mon-tue-wed' (expected e.g. 'mon' or 'mon-fri')",
        ),
        (
            "mon- 08:00-18:00",
            "cannot parse 'mon- 08:00-18:00': "
            "bad day range 'mon-' (expected e.g. 'mon' or 'mon-fri')",
        ),
        (
            "mon 25:00-26:00",
            "cannot parse 'mon 25:00-26:00': bad time '25:00' (expected HH:MM from 00:00 to 24:00)",
        ),
        (
            "mon 08:00-24:01",
            "cannot parse 'mon 08:00-24:01': bad time '24:01' (expected HH:MM from 00:00 to 24:00)",
        ),
        (
            "mon 08:60-18:00",
            "cannot parse 'mon 08:60-18:00': bad time '08:60' (expected HH:MM from 00:00 to 24:00)",
        ),
        (
            "mon 8am-6pm",
            "cannot parse 'mon 8am-6pm': bad time '8am' (expected HH:MM from 00:00 to 24:00)",
        ),
        (
            "mon 8:00-18:00",
            "cannot parse 'mon 8:00-18:00': bad time '8:00' (expected HH:MM from 00:00 to 24:00)",
        ),
        (
            "mon 08:00",
            "cannot parse 'mon 08:00': bad time range '08:00' (expected HH:MM-HH:MM)",
        ),
        (
            "mon 08:00-12:00-18:00",
            "cannot parse 'mon 08:00-12:00-18:00': "
            "bad time range '08:00-12:00-18:00' (expected HH:MM-HH:MM)",
        ),
        ("mon-fri", "cannot parse 'mon-fri': missing time range HH:MM-HH:MM"),
        ("08:00-18:00", "cannot parse '08:00-18:00': missing time range HH:MM-HH:MM"),
        (
            "mon - fri 08:00-18:00",
            "cannot parse 'mon - fri 08:00-18:00': expected 'DAYS HH:MM-HH:MM'",
        ),
        (
            "mon 08:00-08:00",
            "cannot parse 'mon 08:00-08:00': "
            "window '08:00-08:00' starts and stops at the same time",
        ),
        ("mon 24:00-06:00", "cannot parse 'mon 24:00-06:00': 24:00 can only end a window"),
        (
            "mon-fri 08:00-18:00,",
            "cannot parse 'mon-fri 08:00-18:00,': empty entry (check the commas)",
        ),
        (
            "mon 08:00-12:00,, tue 08:00-12:00",
            "cannot parse 'mon 08:00-12:00,, tue 08:00-12:00': empty entry (check the commas)",
        ),
        ("", "cannot parse '': empty setting (use 'none' for no office hours)"),
        ("  ", "cannot parse '  ': empty setting (use 'none' for no office hours)"),
        ("never", "cannot parse 'never': missing time range HH:MM-HH:MM"),
    ],
)
def test_every_parse_error_names_the_piece(spec: str, message: str) -> None:
    """The parser names the piece; the settings put the setting's name in front."""
    with pytest.raises(OfficeHoursError) as caught:
        london(spec)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_office_hours_error_is_a_value_error() -> None:
    assert issubclass(OfficeHoursError, ValueError)


# --- Time zones and daylight saving ---------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "start_utc", "spec", "expected_minutes"),
    [
        # London springs forward at 01:00 GMT: 01:00-02:00 local never happens that day.
        (LONDON, "2026-03-29T00:00", "sun 01:00-02:00", 0),
        (LONDON, "2026-03-29T00:00", "sun 00:30-02:30", 60),
        (LONDON, "2026-03-29T00:00", "sun 08:00-18:00", 600),
        # London falls back at 02:00 BST: 01:00-02:00 local happens twice.
        (LONDON, "2026-10-24T23:00", "sun 01:00-02:00", 120),
        (LONDON, "2026-10-24T23:00", "sun 08:00-18:00", 600),
        # New York springs forward at 02:00 EST and falls back at 02:00 EDT.
        (NEW_YORK, "2026-03-08T05:00", "sun 02:00-03:00", 0),
        (NEW_YORK, "2026-03-08T05:00", "sun 00:00-24:00", 23 * 60),
        (NEW_YORK, "2026-11-01T04:00", "sun 01:00-02:00", 120),
        (NEW_YORK, "2026-11-01T04:00", "sun 00:00-24:00", 25 * 60),
    ],
)
def test_windows_follow_the_local_wall_clock_across_dst(
    tz: ZoneInfo, start_utc: str, spec: str, expected_minutes: int
) -> None:
    hours = parse_office_hours(spec, timezone=tz)
    start = datetime.fromisoformat(start_utc).replace(tzinfo=UTC)
    assert office_minutes(hours, start, timedelta(hours=26)) == expected_minutes


@pytest.mark.parametrize(
    ("tz", "spec", "now_utc", "expected"),
    [
        # Summer: London is UTC+1, so 16:59 UTC is 17:59 local.
        (LONDON, "mon-fri 08:00-18:00", "2026-07-03T16:59", True),
        (LONDON, "mon-fri 08:00-18:00", "2026-07-03T17:00", False),
        (LONDON, "mon-fri 08:00-18:00", "2026-07-03T06:59", False),
        (LONDON, "mon-fri 08:00-18:00", "2026-07-03T07:00", True),
        # Winter: London is on UTC.
        (LONDON, "mon-fri 08:00-18:00", "2026-01-09T17:59", True),
        (LONDON, "mon-fri 08:00-18:00", "2026-01-09T18:00", False),
        # Saturday 03:30 UTC is still Friday 23:30 in New York.
        (NEW_YORK, "fri 22:00-24:00", "2026-07-04T03:30", True),
        (NEW_YORK, "sat 00:00-24:00", "2026-07-04T03:30", False),
        # Half-hour offset: Kolkata is UTC+05:30.
        (KOLKATA, "mon-fri 09:00-17:00", "2026-07-06T03:29", False),
        (KOLKATA, "mon-fri 09:00-17:00", "2026-07-06T03:30", True),
    ],
)
def test_now_in_utc_is_converted_to_the_office_timezone(
    tz: ZoneInfo, spec: str, now_utc: str, expected: bool
) -> None:
    now = datetime.fromisoformat(now_utc).replace(tzinfo=UTC)
    assert parse_office_hours(spec, timezone=tz).is_office_time(now) is expected


def test_now_in_a_third_timezone_is_converted_too() -> None:
    hours = london("mon-fri 08:00-18:00")
    # 01:30 in Tokyo on Saturday is 17:30 on Friday in London (BST).
    assert hours.is_office_time(at(SAT, "01:30", ZoneInfo("Asia/Tokyo")))
    assert not hours.is_office_time(at(SAT, "02:00", ZoneInfo("Asia/Tokyo")))


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        london("mon-fri 08:00-18:00").is_office_time(datetime(2026, 7, 3, 12, 0))


# --- describe() -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "holidays", "expected"),
    [
        ("mon-fri 08:00-18:00", "", "mon-fri 08:00-18:00 (Europe/London)"),
        (
            "mon-fri 08:00-18:00",
            "2027-01-01, 2026-12-25",
            "mon-fri 08:00-18:00 (Europe/London), holidays: 2026-12-25, 2027-01-01",
        ),
        (
            "mon-fri 08:00-18:00, sat 09:00-13:00",
            "",
            "mon-fri 08:00-18:00, sat 09:00-13:00 (Europe/London)",
        ),
        (
            "tue 08:00-12:00, tue 13:00-17:00",
            "",
            "tue 08:00-12:00 13:00-17:00 (Europe/London)",
        ),
        (
            "fri 22:00-06:00",
            "",
            "fri 22:00-24:00, sat 00:00-06:00 (Europe/London)",
        ),
    ],
)
def test_describe(spec: str, holidays: str, expected: str) -> None:
    assert london(spec, holidays).describe() == expected


# --- Vicidial call times --------------------------------------------------------------------
# Expected values follow Vicidial's two readings (CallTimeHours): AST_VDhopper.pl open while
# start <= HHMM < stop, agi-VDAD_ALL_inbound.agi open while start <= HHMM <= stop or before
# yesterday's stop minus 2400; a moment is office time when either reading is open.

DAY_COLUMNS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def call_time_row(**columns: object) -> dict[str, object]:
    """A vicidial_call_times row with Vicidial's defaults (9am-9pm every day)."""
    row: dict[str, object] = {
        "call_time_id": "9am-9pm",
        "call_time_name": "default 9am to 9pm",
        "ct_default_start": 900,
        "ct_default_stop": 2100,
        "ct_holidays": None,
    }
    for day in DAY_COLUMNS:
        row[f"ct_{day}_start"] = 0
        row[f"ct_{day}_stop"] = 0
    row.update(columns)
    return row


def holiday_row(holiday_id: str, holiday_date: object, **columns: object) -> dict[str, object]:
    row: dict[str, object] = {
        "holiday_id": holiday_id,
        "holiday_date": holiday_date,
        "holiday_status": "ACTIVE",
        "ct_default_start": 900,
        "ct_default_stop": 2100,
        "holiday_method": "REPLACE",
    }
    row.update(columns)
    return row


def from_row(
    row: dict[str, object],
    holidays: list[dict[str, object]] | None = None,
    extra_holidays: frozenset[date] = frozenset(),
) -> CallTimeHours:
    return office_hours_from_call_time(
        row, holidays or [], timezone=LONDON, extra_holidays=extra_holidays
    )


def local(day: str, clock: str) -> datetime:
    return at(day, clock)


@pytest.mark.parametrize(
    ("day", "clock", "expected"),
    [
        (MON, "08:59", False),
        (MON, "09:00", True),
        (MON, "20:59", True),
        (MON, "21:00", True),  # the inbound AGI closes only after the stop minute
        (MON, "21:01", False),
        (SAT, "12:00", True),
        (SUN, "12:00", True),
    ],
)
def test_call_time_days_at_zero_use_the_default_window(
    day: str, clock: str, expected: bool
) -> None:
    assert from_row(call_time_row()).is_office_time(at(day, clock)) is expected


def test_the_two_readings_differ_at_the_stop_minute() -> None:
    hours = from_row(call_time_row())
    assert not hours.outbound_open(local(MON, "21:00"))
    assert hours.inbound_open(local(MON, "21:00"))
    assert hours.outbound_open(local(MON, "20:59")) and hours.inbound_open(local(MON, "20:59"))


@pytest.mark.parametrize(
    ("day", "clock", "expected"),
    [
        (SAT, "09:59", False),
        (SAT, "10:00", True),
        (SAT, "14:00", True),
        (SAT, "14:01", False),
        (FRI, "09:30", True),
    ],
)
def test_call_time_day_columns_override_the_default(day: str, clock: str, expected: bool) -> None:
    row = call_time_row(ct_saturday_start=1000, ct_saturday_stop=1400)
    assert from_row(row).is_office_time(at(day, clock)) is expected


@pytest.mark.parametrize(
    ("start", "stop", "open_minutes"),
    [
        (2400, 2400, 0),  # Vicidial's documented way to close a day
        (2200, 600, 0),  # start > stop: neither reading wraps within a day
        (900, 0, 0),
        (1200, 1200, 1),  # the inbound AGI's inclusive stop: 12:00 itself
    ],
)
def test_call_time_day_with_start_not_before_stop(start: int, stop: int, open_minutes: int) -> None:
    hours = from_row(call_time_row(ct_sunday_start=start, ct_sunday_stop=stop))
    sunday_start = at(SUN, "00:00").astimezone(UTC)
    assert office_minutes(hours, sunday_start, timedelta(days=1)) == open_minutes
    assert hours.is_office_time(at(MON, "12:00"))


def test_call_time_default_of_zero_leaves_only_midnight_to_the_inbound_reading() -> None:
    # 0-0: the hopper never dials; the AGI's "hm < 0 or hm > 0" lets 00:00 through.
    hours = from_row(call_time_row(ct_default_start=0, ct_default_stop=0))
    week_start = at(MON, "00:00").astimezone(UTC)
    assert office_minutes(hours, week_start, timedelta(days=7)) == 7
    assert hours.is_office_time(at(TUE, "00:00")) and not hours.is_office_time(at(TUE, "00:01"))


@pytest.mark.parametrize(("clock", "expected"), [("00:00", True), ("23:59", True)])
def test_call_time_2400_is_end_of_day(clock: str, expected: bool) -> None:
    hours = from_row(call_time_row(ct_default_start=0, ct_default_stop=2400))
    assert hours.is_office_time(at(WED, clock)) is expected


def test_call_time_nullable_day_columns_count_as_zero() -> None:
    hours = from_row(call_time_row(ct_monday_start=None, ct_monday_stop=None))
    assert hours.is_office_time(at(MON, "09:00"))
    assert not hours.is_office_time(at(MON, "08:59"))


def test_call_time_minutes_are_not_hundredths() -> None:
    hours = from_row(call_time_row(ct_default_start=930, ct_default_stop=1745))
    assert not hours.is_office_time(at(TUE, "09:29"))
    assert hours.is_office_time(at(TUE, "09:30"))
    assert hours.is_office_time(at(TUE, "17:45"))
    assert not hours.is_office_time(at(TUE, "17:46"))


# --- Stops past midnight (CONTRACT 7) -----------------------------------------------------


@pytest.mark.parametrize(
    ("day", "clock", "expected"),
    [
        (WED, "08:59", False),
        (WED, "09:00", True),
        (WED, "23:59", True),  # both readings: 2359 < 2600
        (THU, "00:00", True),  # the inbound overflow: before 2600 - 2400 = 0200
        (THU, "01:59", True),
        (THU, "02:00", False),  # the overflow has ended, the day has not begun
        (THU, "08:59", False),
    ],
)
def test_a_stop_above_2400_runs_past_midnight(day: str, clock: str, expected: bool) -> None:
    hours = from_row(call_time_row(ct_default_stop=2600))
    assert hours.is_office_time(at(day, clock)) is expected


def test_past_midnight_comes_from_yesterdays_own_stop() -> None:
    # Only Friday runs late: Saturday 01:30 is open, Sunday 01:30 (after Saturday) is not.
    hours = from_row(call_time_row(ct_friday_start=900, ct_friday_stop=2600))
    assert hours.is_office_time(at(SAT, "01:30"))
    assert not hours.outbound_open(local(SAT, "01:30"))  # the hopper reads today only
    assert not hours.is_office_time(at(SUN, "01:30"))


@pytest.mark.parametrize("stop", [2401, 2600, 2959, 4800, 9999, 65535])
def test_any_stop_above_2400_is_read_never_refused(stop: int) -> None:
    hours = from_row(call_time_row(ct_default_stop=stop))
    assert hours.is_office_time(at(WED, "23:59"))
    assert hours.is_office_time(at(WED, "00:00"))  # from Tuesday's stop


# --- Holidays -----------------------------------------------------------------------------

XMAS = "2026-12-25"  # a Friday
NEW_YEAR = "2027-01-01"  # a Friday
XMAS_EVE = "2026-12-24"  # a Thursday


def holiday_call_time() -> CallTimeHours:
    return from_row(
        call_time_row(ct_holidays="|xmas|newyear|"),
        [
            holiday_row("xmas", date(2026, 12, 25), ct_default_start=1000, ct_default_stop=1400),
            holiday_row("newyear", NEW_YEAR, holiday_status="INACTIVE", ct_default_stop=1000),
            holiday_row("eve", XMAS_EVE, ct_default_start=2400, ct_default_stop=2400),
        ],
    )


@pytest.mark.parametrize(
    ("day", "clock", "expected"),
    [
        # ACTIVE and listed: the holiday window applies on its date.
        (XMAS, "09:59", False),
        (XMAS, "10:00", True),
        (XMAS, "14:00", True),
        (XMAS, "14:01", False),
        # INACTIVE: ignored, the normal Friday window applies.
        (NEW_YEAR, "09:00", True),
        (NEW_YEAR, "20:59", True),
        # ACTIVE but not listed in ct_holidays: ignored.
        (XMAS_EVE, "12:00", True),
        # The day after the holiday is a normal day again.
        ("2026-12-26", "09:00", True),
    ],
)
def test_call_time_holidays(day: str, clock: str, expected: bool) -> None:
    assert holiday_call_time().is_office_time(at(day, clock)) is expected


@pytest.mark.parametrize(
    ("clock", "outbound", "inbound"),
    [
        ("07:59", False, False),
        ("08:00", False, True),
        ("09:00", True, True),
        ("21:30", False, True),
        ("22:00", False, True),
        ("22:01", False, False),
    ],
)
def test_replace_holiday_the_hopper_narrows_the_agi_replaces(
    clock: str, outbound: bool, inbound: bool
) -> None:
    # REPLACE 08:00-22:00 on a 09:00-21:00 day: the hopper only narrows (nothing to do),
    # the AGI takes the holiday's window; either one open is office time.
    row = call_time_row(ct_holidays="|xmas|")
    wide = holiday_row("xmas", XMAS, ct_default_start=800, ct_default_stop=2200)
    hours = from_row(row, [wide])
    moment = local(XMAS, clock)
    assert (hours.outbound_open(moment), hours.inbound_open(moment)) == (outbound, inbound)
    assert hours.is_office_time(moment) is (outbound or inbound)


@pytest.mark.parametrize(
    ("clock", "outbound", "inbound"),
    [
        ("09:00", False, True),
        ("12:00", True, False),  # the AGI closes the holiday's window ...
        ("12:59", True, False),  # ... which the hopper narrows the day to
        ("13:00", False, False),  # both closed: the one minute this holiday takes away
        ("13:01", False, True),
        ("21:00", False, True),
    ],
)
def test_addition_reverse_holiday_closes_its_window_in_the_agi(
    clock: str, outbound: bool, inbound: bool
) -> None:
    row = call_time_row(ct_holidays="|lunch|")
    lunch = holiday_row(
        "lunch",
        XMAS,
        ct_default_start=1200,
        ct_default_stop=1300,
        holiday_method="ADDITION_REVERSE",
    )
    hours = from_row(row, [lunch])
    moment = local(XMAS, clock)
    assert (hours.outbound_open(moment), hours.inbound_open(moment)) == (outbound, inbound)
    assert hours.is_office_time(moment) is (outbound or inbound)


@pytest.mark.parametrize(
    ("method", "open_minutes"),
    [
        ("REPLACE", 0),  # the day becomes 2400-2400: closed
        (None, 0),  # NULL reads as the column's default, REPLACE
        ("SOMETHING_NEW", 0),  # the AGI treats every other value as REPLACE
        ("ADDITION_REVERSE", 12 * 60 + 1),  # closes only 24:00, never reached: a normal day
    ],
)
def test_each_holiday_method_on_a_closed_all_day_holiday(method: object, open_minutes: int) -> None:
    row = call_time_row(ct_holidays="|shut|")
    shut = holiday_row(
        "shut", XMAS, ct_default_start=2400, ct_default_stop=2400, holiday_method=method
    )
    hours = from_row(row, [shut])
    assert office_minutes(hours, at(XMAS, "00:00").astimezone(UTC), timedelta(days=1)) == (
        open_minutes
    )


def test_holiday_rows_of_vicidial_before_holiday_method_are_replace() -> None:
    old = holiday_row("xmas", XMAS, ct_default_start=2400, ct_default_stop=2400)
    del old["holiday_method"]
    hours = from_row(call_time_row(ct_holidays="|xmas|"), [old])
    assert hours.holidays[0].method == "REPLACE"
    assert not hours.is_office_time(at(XMAS, "12:00"))


def test_holiday_stop_above_2400_on_the_holiday_runs_past_its_midnight_only_inbound() -> None:
    # The AGI's overflow reads yesterday's call-time columns, not yesterday's holiday.
    row = call_time_row(ct_holidays="|late|")
    late = holiday_row("late", XMAS, ct_default_start=900, ct_default_stop=2600)
    hours = from_row(row, [late])
    assert hours.is_office_time(at(XMAS, "23:59"))
    assert not hours.is_office_time(at("2026-12-26", "01:00"))


def test_holiday_closed_all_day_keeps_the_overflow_from_yesterday() -> None:
    row = call_time_row(ct_holidays="|xmas|", ct_thursday_stop=2600, ct_thursday_start=900)
    closed = holiday_row("xmas", XMAS, ct_default_start=2400, ct_default_stop=2400)
    hours = from_row(row, [closed])
    assert hours.is_office_time(at(XMAS, "01:59"))
    assert not hours.is_office_time(at(XMAS, "02:00"))
    assert not hours.is_office_time(at(XMAS, "12:00"))


@pytest.mark.parametrize(
    "holiday_date",
    [date(2026, 12, 25), datetime(2026, 12, 25, 0, 0), "2026-12-25"],
)
def test_call_time_holiday_date_may_be_date_datetime_or_text(holiday_date: object) -> None:
    row = call_time_row(ct_holidays="|xmas|")
    hours = from_row(row, [holiday_row("xmas", holiday_date, ct_default_start=1000)])
    assert not hours.is_office_time(at(XMAS, "09:30"))


@pytest.mark.parametrize("holiday_date", [None, "0000-00-00"])
def test_call_time_holiday_without_a_date_never_applies(holiday_date: object) -> None:
    row = call_time_row(ct_holidays="|xmas|")
    hours = from_row(row, [holiday_row("xmas", holiday_date, ct_default_start=1000)])
    assert hours.is_office_time(at(XMAS, "09:30"))
    assert hours.holidays == ()


def test_call_time_holiday_ids_match_like_mysql_without_case() -> None:
    row = call_time_row(ct_holidays="|XMAS|")
    hours = from_row(row, [holiday_row("xmas", XMAS, ct_default_start=1000)])
    assert not hours.is_office_time(at(XMAS, "09:30"))


def test_two_holidays_on_one_date_hopper_takes_the_first_id_agi_the_last_listed() -> None:
    row = call_time_row(ct_holidays="|a-early|b-late|")
    holidays = [
        holiday_row("b-late", XMAS, ct_default_start=1500),
        holiday_row("a-early", XMAS, ct_default_start=1000),
    ]
    hours = from_row(row, holidays)
    assert hours.outbound_open(local(XMAS, "10:00"))  # a-early: first by holiday_id
    assert not hours.inbound_open(local(XMAS, "10:00"))  # b-late replaced it last
    assert hours.is_office_time(at(XMAS, "10:00"))
    assert not hours.is_office_time(at(XMAS, "09:59"))


def test_call_time_extra_holidays_close_the_whole_date() -> None:
    hours = from_row(call_time_row(), extra_holidays=frozenset({date(2026, 12, 25)}))
    assert office_minutes(hours, at(XMAS, "00:00").astimezone(UTC), timedelta(days=1)) == 0
    assert hours.is_office_time(at(XMAS_EVE, "12:00"))


def test_call_time_describe() -> None:
    hours = from_row(
        call_time_row(ct_holidays="|xmas|"),
        [holiday_row("xmas", XMAS, holiday_method="ADDITION_REVERSE")],
        extra_holidays=frozenset({date(2027, 1, 1)}),
    )
    assert hours.describe() == (
        "Vicidial call time '9am-9pm' (Europe/London), holidays: 2026-12-25 ADDITION_REVERSE, "
        "closed: 2027-01-01"
    )


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            {"ct_friday_start": -100},
            "vicidial_call_times '9am-9pm': ct_friday_start=-100 is not an HHMM number",
        ),
        (
            {"ct_default_stop": "2100"},
            "vicidial_call_times '9am-9pm': ct_default_stop='2100' is not an HHMM number",
        ),
        (
            {"ct_saturday_start": True},
            "vicidial_call_times '9am-9pm': ct_saturday_start=True is not an HHMM number",
        ),
        (
            {"ct_holidays": 7},
            "vicidial_call_times '9am-9pm': ct_holidays=7 is not text",
        ),
    ],
)
def test_malformed_call_time_names_the_row_and_column(
    columns: dict[str, object], message: str
) -> None:
    with pytest.raises(OfficeHoursError) as caught:
        from_row(call_time_row(**columns))
    assert str(caught.value) == message


def test_call_time_missing_column_is_reported() -> None:
    row = call_time_row()
    del row["ct_wednesday_stop"]
    with pytest.raises(OfficeHoursError) as caught:
        from_row(row)
    assert str(caught.value) == "vicidial_call_times '9am-9pm': column ct_wednesday_stop is missing"


@pytest.mark.parametrize(
    ("holiday", "message"),
    [
        (
            holiday_row("xmas", "25/12/2026"),
            "vicidial_call_time_holidays 'xmas': holiday_date='25/12/2026' is not a date "
            "YYYY-MM-DD",
        ),
        (
            holiday_row("xmas", XMAS, ct_default_stop="late"),
            "vicidial_call_time_holidays 'xmas': ct_default_stop='late' is not an HHMM number",
        ),
    ],
)
def test_malformed_listed_active_holiday_names_the_row_and_column(
    holiday: dict[str, object], message: str
) -> None:
    with pytest.raises(OfficeHoursError) as caught:
        from_row(call_time_row(ct_holidays="|xmas|"), [holiday])
    assert str(caught.value) == message


def test_malformed_holiday_that_does_not_count_is_ignored() -> None:
    broken = holiday_row("xmas", "not a date", ct_default_stop="late")
    inactive = {**broken, "holiday_status": "INACTIVE"}
    assert from_row(call_time_row(ct_holidays="|xmas|"), [inactive]).holidays == ()
    assert from_row(call_time_row(ct_holidays="|other|"), [broken]).holidays == ()


# --- Properties -----------------------------------------------------------------------------

DAY_SPELLINGS = (
    ("mon", "Monday"),
    ("tue", "TUESDAY"),
    ("wed", "wednesday"),
    ("thu", "Thurs"),
    ("fri", "friday"),
    ("sat", "Sat"),
    ("sun", "sunday"),
)

Entry = tuple[int, int, int, int]  # first day, last day, start minute, stop minute


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    first = draw(st.integers(0, 6))
    last = draw(st.integers(0, 6))
    start = draw(st.integers(0, 24 * 60 - 1))
    stop = draw(st.integers(0, 24 * 60).filter(lambda stop: stop != start))
    return first, last, start, stop


def entry_text(entry: Entry, spelling: int) -> str:
    first, last, start, stop = entry
    days = DAY_SPELLINGS[first][spelling]
    if first != last:
        days += "-" + DAY_SPELLINGS[last][spelling]
    return f"{days} {start // 60:02d}:{start % 60:02d}-{stop // 60:02d}:{stop % 60:02d}"


def expected_office_time(spec_entries: list[Entry], weekday: int, minute: int) -> bool:
    """Reference reading of the setting, written independently of the module."""
    for first, last, start, stop in spec_entries:
        days = {(first + offset) % 7 for offset in range((last - first) % 7 + 1)}
        if start < stop and weekday in days and start <= minute < stop:
            return True
        if start > stop and weekday in days and minute >= start:
            return True
        if start > stop and (weekday - 1) % 7 in days and minute < stop:
            return True
    return False


aware_datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.timezones()
)


@given(
    spec_entries=st.lists(entries(), min_size=1, max_size=5),
    spelling=st.integers(0, 1),
    office_tz=st.timezones(),
    now=aware_datetimes,
)
def test_property_matches_reference_and_never_raises(
    spec_entries: list[Entry], spelling: int, office_tz: ZoneInfo, now: datetime
) -> None:
    spec = ", ".join(entry_text(entry, spelling) for entry in spec_entries)
    hours = parse_office_hours(spec, timezone=office_tz)
    local = now.astimezone(office_tz)
    expected = expected_office_time(spec_entries, local.weekday(), local.hour * 60 + local.minute)
    assert hours.is_office_time(now) is expected
    assert hours.describe().endswith(f"({office_tz.key})")


@given(
    start=st.integers(0, 23),
    stop=st.integers(1, 24),
    now=aware_datetimes,
)
def test_property_call_time_default_is_open_from_start_through_the_stop_minute(
    start: int, stop: int, now: datetime
) -> None:
    row = call_time_row(ct_default_start=start * 100, ct_default_stop=stop * 100)
    from_vicidial = office_hours_from_call_time(row, [], timezone=NEW_YORK)
    clock = now.astimezone(NEW_YORK)
    hhmm = clock.hour * 100 + clock.minute
    # Reference: start <= HHMM < stop (hopper) or start <= HHMM <= stop (AGI); no overflow.
    assert from_vicidial.is_office_time(now) is (start * 100 <= hhmm <= stop * 100)


@given(
    stop=st.integers(2401, 4800),
    now=aware_datetimes,
)
def test_property_stop_past_midnight_opens_the_next_morning_until_stop_minus_2400(
    stop: int, now: datetime
) -> None:
    from_vicidial = office_hours_from_call_time(
        call_time_row(ct_default_start=900, ct_default_stop=stop), [], timezone=NEW_YORK
    )
    clock = now.astimezone(NEW_YORK)
    hhmm = clock.hour * 100 + clock.minute
    assert from_vicidial.is_office_time(now) is (hhmm >= 900 or hhmm < stop - 2400)
