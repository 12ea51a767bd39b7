"""Decide whether a moment falls inside office hours, when the API must refuse to run.

Pure logic: settings text and Vicidial rows come in as arguments, nothing is read here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

__all__ = [
    "OfficeHours",
    "OfficeHoursError",
    "office_hours_from_call_time",
    "parse_holidays",
    "parse_office_hours",
]

OFFICE_HOURS_SETTING = "LEAD_ARCHIVE_OFFICE_HOURS"
HOLIDAYS_SETTING = "LEAD_ARCHIVE_HOLIDAYS"

MINUTES_PER_DAY = 24 * 60

# A window is (start_minute, stop_minute) on the local wall clock, start < stop <= 1440.
Window = tuple[int, int]
DayWindows = tuple[Window, ...]
WeeklyWindows = tuple[DayWindows, ...]

DAY_ABBREVIATIONS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES: dict[str, int] = {
    **{name: index for index, name in enumerate(DAY_ABBREVIATIONS)},
    "monday": 0,
    "tues": 1,
    "tuesday": 1,
    "wednesday": 2,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
_TIME = re.compile(r"([0-9]{2}):([0-9]{2})")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# Vicidial's column names in Python weekday order (0 = Monday).
_VICIDIAL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class OfficeHoursError(ValueError):
    """An office-hours setting or Vicidial call-time row that cannot be understood."""


@dataclass(frozen=True)
class OfficeHours:
    """Weekly windows in one timezone, plus dates without office hours.

    ``weekly[d]`` holds the windows of weekday ``d`` (0 = Monday) as minutes of the local
    day. ``holidays`` are dates with no office hours at all. ``overrides`` replace the
    weekly windows on single dates (Vicidial holidays); an empty tuple means closed.
    """

    weekly: WeeklyWindows
    timezone: ZoneInfo
    holidays: frozenset[date] = frozenset()
    overrides: dict[date, DayWindows] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if len(self.weekly) != len(DAY_ABBREVIATIONS):
            raise ValueError(f"weekly needs 7 days of windows, got {len(self.weekly)}")

    def is_office_time(self, now: datetime) -> bool:
        """Return True when ``now`` (timezone-aware) is inside office hours."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"is_office_time needs a timezone-aware datetime, got {now!r}")
        # Windows are wall-clock times, so DST shifts are handled by converting first.
        local = now.astimezone(self.timezone)
        today = local.date()
        if today in self.holidays:
            return False
        windows = self.overrides.get(today, self.weekly[today.weekday()])
        minute = local.hour * 60 + local.minute
        return any(start <= minute < stop for start, stop in windows)

    def describe(self) -> str:
        """Return a short human description, e.g. for logs and error details."""
        text = f"{_describe_weekly(self.weekly)} ({self.timezone.key})"
        if self.overrides:
            special = (
                f"{day.isoformat()} {_describe_windows(self.overrides[day]) or 'closed'}"
                for day in sorted(self.overrides)
            )
            text += ", special days: " + ", ".join(special)
        if self.holidays:
            text += ", holidays: " + ", ".join(day.isoformat() for day in sorted(self.holidays))
        return text


def parse_office_hours(spec: str, *, timezone: ZoneInfo, holidays: str = "") -> OfficeHours:
    """Parse ``LEAD_ARCHIVE_OFFICE_HOURS`` (and ``LEAD_ARCHIVE_HOLIDAYS``).

    ``spec`` is ``none`` or comma-separated ``DAYS HH:MM-HH:MM`` entries, e.g.
    ``mon-fri 08:00-18:00, sat 09:00-13:00``. DAYS is a day (``mon`` or ``monday``) or a
    range that may wrap (``fri-mon``). ``24:00`` ends the day; a window whose stop is
    earlier than its start crosses midnight into the next day. Raises OfficeHoursError.
    """
    per_day: list[list[Window]] = [[] for _ in DAY_ABBREVIATIONS]
    if spec.strip().lower() != "none":
        if not spec.strip():
            raise _spec_error(spec, "empty setting (use 'none' for no office hours)")
        for entry in spec.split(","):
            if not entry.strip():
                raise _spec_error(spec, "empty entry (check the commas)")
            for day, window in _parse_entry(entry.strip()):
                per_day[day].append(window)
    weekly = tuple(_merge(windows) for windows in per_day)
    return OfficeHours(weekly=weekly, timezone=timezone, holidays=parse_holidays(holidays))


def parse_holidays(text: str) -> frozenset[date]:
    """Parse ``LEAD_ARCHIVE_HOLIDAYS``: comma-separated ``YYYY-MM-DD`` dates, may be empty."""
    if not text.strip():
        return frozenset()
    return frozenset(_parse_holiday(item.strip()) for item in text.split(","))


def office_hours_from_call_time(
    call_time: Mapping[str, object],
    holidays: Sequence[Mapping[str, object]],
    *,
    timezone: ZoneInfo,
    extra_holidays: frozenset[date] = frozenset(),
) -> OfficeHours:
    """Build office hours from a ``vicidial_call_times`` row, read the way Vicidial reads it.

    Office hours are the times this call time is open. As in Vicidial's AST_VDhopper.pl
    (``gmt_sql_generate``) and agc/functions.php (``dialable_gmt``):

    * a weekday whose ``ct_<day>_start`` and ``ct_<day>_stop`` are both 0 uses
      ``ct_default_start``/``ct_default_stop``, any other pair is used as it is;
    * a window is open when ``start <= HHMM < stop``, so ``start >= stop`` (``2400``-``2400``,
      even ``2200``-``0600``, or a ``0``-``0`` default) is closed all day: Vicidial never
      wraps midnight;
    * ``ct_holidays`` lists ``vicidial_call_time_holidays`` ids as ``|a|b|``. On the date of
      an ACTIVE listed holiday, Vicidial narrows the day's window to the holiday's own
      ``ct_default_start``/``ct_default_stop`` (later start, earlier stop), so the result is
      the intersection of both; when several match one date the first by holiday_id wins.

    ``extra_holidays`` (from LEAD_ARCHIVE_HOLIDAYS) are dates with no office hours at all.
    Raises OfficeHoursError naming the row and column of any malformed value.
    """
    call_time_id = str(call_time.get("call_time_id", "?"))
    where = f"vicidial_call_times {call_time_id!r}"
    default = _vicidial_pair(call_time, "ct_default", where)
    days = tuple(_vicidial_day(call_time, name, default, where) for name in _VICIDIAL_DAYS)
    listed = _listed_holiday_ids(call_time.get("ct_holidays"), where)
    overrides = {
        holiday_date: _open_window(_intersect(days[holiday_date.weekday()], holiday_window))
        for holiday_date, holiday_window in _active_holidays(holidays, listed).items()
    }
    return OfficeHours(
        weekly=tuple(_open_window(pair) for pair in days),
        timezone=timezone,
        holidays=extra_holidays,
        overrides=overrides,
    )


# --- LEAD_ARCHIVE_OFFICE_HOURS -------------------------------------------------------------


def _spec_error(piece: str, reason: str) -> OfficeHoursError:
    return OfficeHoursError(f"{OFFICE_HOURS_SETTING}: cannot parse {piece!r}: {reason}")


def _parse_entry(entry: str) -> list[tuple[int, Window]]:
    """Turn one ``DAYS HH:MM-HH:MM`` entry into (weekday, window) pairs."""
    parts = entry.split()
    if len(parts) == 1:
        raise _spec_error(entry, "missing time range HH:MM-HH:MM")
    if len(parts) > 2:
        raise _spec_error(entry, "expected 'DAYS HH:MM-HH:MM'")
    days_text, times_text = parts
    days = _parse_days(days_text, entry)
    start, stop = _parse_time_range(times_text, entry)
    if start < stop:
        return [(day, (start, stop)) for day in days]
    # Crossing midnight: the tail belongs to the next calendar day.
    pairs = [(day, (start, MINUTES_PER_DAY)) for day in days]
    if stop > 0:
        pairs += [((day + 1) % 7, (0, stop)) for day in days]
    return pairs


def _parse_days(text: str, entry: str) -> list[int]:
    names = text.split("-")
    if len(names) > 2 or not all(names):
        raise _spec_error(entry, f"bad day range {text!r} (expected e.g. 'mon' or 'mon-fri')")
    first, last = (_parse_day(name, entry) for name in (names[0], names[-1]))
    return [(first + offset) % 7 for offset in range((last - first) % 7 + 1)]


def _parse_day(name: str, entry: str) -> int:
    try:
        return _DAY_NAMES[name.lower()]
    except KeyError:
        raise _spec_error(entry, f"unknown day {name!r}") from None


def _parse_time_range(text: str, entry: str) -> Window:
    times = text.split("-")
    if len(times) != 2:
        raise _spec_error(entry, f"bad time range {text!r} (expected HH:MM-HH:MM)")
    start, stop = (_parse_time(time_text, entry) for time_text in times)
    if start == MINUTES_PER_DAY:
        raise _spec_error(entry, "24:00 can only end a window")
    if start == stop:
        raise _spec_error(entry, f"window {text!r} starts and stops at the same time")
    return start, stop


def _parse_time(text: str, entry: str) -> int:
    match = _TIME.fullmatch(text)
    if match:
        hours, minutes = int(match[1]), int(match[2])
        if minutes < 60 and hours * 60 + minutes <= MINUTES_PER_DAY:
            return hours * 60 + minutes
    raise _spec_error(entry, f"bad time {text!r} (expected HH:MM from 00:00 to 24:00)")


def _merge(windows: Iterable[Window]) -> DayWindows:
    """Sort windows and join overlapping or touching ones, so each day reads simply."""
    merged: list[Window] = []
    for start, stop in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(stop, merged[-1][1]))
        else:
            merged.append((start, stop))
    return tuple(merged)


def _parse_holiday(item: str) -> date:
    try:
        if not _ISO_DATE.fullmatch(item):
            raise ValueError(item)
        return date.fromisoformat(item)
    except ValueError:
        raise OfficeHoursError(
            f"{HOLIDAYS_SETTING}: cannot parse {item!r}: expected a date YYYY-MM-DD"
        ) from None


# --- describe() ---------------------------------------------------------------------------


def _describe_weekly(weekly: WeeklyWindows) -> str:
    """Group consecutive weekdays sharing the same windows: ``mon-fri 08:00-18:00``."""
    groups: list[tuple[int, int, DayWindows]] = []
    for day, windows in enumerate(weekly):
        if groups and groups[-1][1] == day - 1 and groups[-1][2] == windows:
            groups[-1] = (groups[-1][0], day, windows)
        else:
            groups.append((day, day, windows))
    parts = [
        f"{_describe_days(first, last)} {_describe_windows(windows)}"
        for first, last, windows in groups
        if windows
    ]
    return ", ".join(parts) or "none"


def _describe_days(first: int, last: int) -> str:
    if first == last:
        return DAY_ABBREVIATIONS[first]
    return f"{DAY_ABBREVIATIONS[first]}-{DAY_ABBREVIATIONS[last]}"


def _describe_windows(windows: DayWindows) -> str:
    return " ".join(f"{_clock(start)}-{_clock(stop)}" for start, stop in windows)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- Vicidial call times ------------------------------------------------------------------


def _vicidial_pair(row: Mapping[str, object], prefix: str, where: str) -> Window:
    """Read ``<prefix>_start``/``<prefix>_stop`` as minutes; start may be >= stop."""
    start, stop = (_vicidial_minutes(row, f"{prefix}_{edge}", where) for edge in ("start", "stop"))
    return start, stop


def _vicidial_day(row: Mapping[str, object], day: str, default: Window, where: str) -> Window:
    pair = _vicidial_pair(row, f"ct_{day}", where)
    # 0/0 is Vicidial's "not set": the day falls back to the default window.
    return default if pair == (0, 0) else pair


def _vicidial_minutes(row: Mapping[str, object], column: str, where: str) -> int:
    """Convert a SMALLINT HHMM column (900 = 09:00, 2400 = end of day) to minutes."""
    if column not in row:
        raise OfficeHoursError(f"{where}: column {column} is missing")
    value = row[column]
    # The per-day columns are nullable; Vicidial's Perl and PHP compare NULL as 0.
    value = 0 if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2400:
        raise OfficeHoursError(f"{where}: {column}={value!r} is not an HHMM time 0..2400")
    hours, minutes = divmod(value, 100)
    if minutes >= 60:
        raise OfficeHoursError(f"{where}: {column}={value!r} has {minutes} minutes")
    return hours * 60 + minutes


def _listed_holiday_ids(value: object, where: str) -> frozenset[str]:
    """Split ``ct_holidays`` (``|xmas|newyear|``) into ids, compared case-insensitively.

    Vicidial matches them with SQL ``IN(...)`` under a case-insensitive collation.
    """
    if value is None:
        return frozenset()
    if not isinstance(value, str):
        raise OfficeHoursError(f"{where}: ct_holidays={value!r} is not text")
    return frozenset(part.strip().casefold() for part in value.split("|") if part.strip())


def _active_holidays(
    rows: Sequence[Mapping[str, object]], listed: frozenset[str]
) -> dict[date, Window]:
    """Map each date to the window of the holiday Vicidial would apply on it."""
    chosen: dict[date, Window] = {}
    # Vicidial reads one row per date, "order by holiday_id", so the first id wins.
    for row in sorted(rows, key=lambda row: str(row.get("holiday_id", "")).casefold()):
        holiday_id = str(row.get("holiday_id", ""))
        status = str(row.get("holiday_status", "")).upper()
        if holiday_id.strip().casefold() not in listed or status != "ACTIVE":
            continue
        where = f"vicidial_call_time_holidays {holiday_id!r}"
        holiday_date = _holiday_date(row.get("holiday_date"), where)
        if holiday_date is not None and holiday_date not in chosen:
            chosen[holiday_date] = _vicidial_pair(row, "ct_default", where)
    return chosen


def _holiday_date(value: object, where: str) -> date | None:
    """Read holiday_date; NULL or MySQL's zero date never equals a real day in Vicidial."""
    if value is None or value == "0000-00-00":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise OfficeHoursError(f"{where}: holiday_date={value!r} is not a date YYYY-MM-DD")


def _intersect(first: Window, second: Window) -> Window:
    # Equals Vicidial's narrowing (raise start, lower stop) whenever the day can be open.
    return max(first[0], second[0]), min(first[1], second[1])


def _open_window(pair: Window) -> DayWindows:
    # Vicidial tests start <= HHMM < stop, so start >= stop is closed all day, never wrapped.
    start, stop = pair
    return ((start, stop),) if start < stop else ()
