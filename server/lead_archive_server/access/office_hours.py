"""Decide whether a moment falls inside office hours, when the API must refuse to run.

Pure logic: settings text and Vicidial rows come in as arguments, nothing is read here.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

__all__ = [
    "CallTimeHours",
    "OfficeHours",
    "OfficeHoursError",
    "lead_offset",
    "office_hours_from_call_time",
    "parse_holidays",
    "parse_office_hours",
    "zone_name",
]

# The office-hours setting's word for "read office hours from the dialer itself" (CONTRACT 9).
DIALER = "dialer"

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
# The gmt_offset_now values Vicidial gives a lead (hours east of UTC, DST included); any
# other value (or NULL) is no lead's real zone and is ignored (CONTRACT 9).
LOWEST_OFFSET, HIGHEST_OFFSET = Decimal("-12.00"), Decimal("14.00")


def lead_offset(value: object) -> Decimal | None:
    """A lead's gmt_offset_now as Vicidial's hours (5.50 is +05:30), or None when it is NULL
    or outside Vicidial's range."""
    if value is None or isinstance(value, bool):
        return None
    try:
        offset = Decimal(str(value))
    except ArithmeticError:
        return None
    return offset if LOWEST_OFFSET <= offset <= HIGHEST_OFFSET else None


def zone_name(zone: tzinfo) -> str:
    """An IANA name (``America/New_York``) or a fixed offset (``UTC-05:00``)."""
    if isinstance(zone, ZoneInfo):
        return zone.key
    offset = zone.utcoffset(None) or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def fixed_zone(minutes_east: int) -> tzinfo:
    """A zone that is always `minutes_east` of UTC (the database clock's reading)."""
    return timezone(timedelta(minutes=minutes_east))


class OfficeHoursError(ValueError):
    """An office-hours setting or Vicidial call-time row that cannot be understood."""


@dataclass(frozen=True)
class OfficeHours:
    """Weekly windows in one timezone, plus dates without office hours (the settings'
    reading; a Vicidial call time is read by CallTimeHours).

    ``weekly[d]`` holds the windows of weekday ``d`` (0 = Monday) as minutes of the local
    day. ``holidays`` are dates with no office hours at all.
    """

    weekly: WeeklyWindows
    timezone: tzinfo
    holidays: frozenset[date] = frozenset()

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
        windows = self.weekly[today.weekday()]
        minute = local.hour * 60 + local.minute
        return any(start <= minute < stop for start, stop in windows)

    def describe(self) -> str:
        """Return a short human description, e.g. for logs and error details."""
        return self.describe_windows(f" ({zone_name(self.timezone)})")

    def describe_windows(self, zone: str = "") -> str:
        """The windows, `zone` (nothing by default), then the holidays."""
        text = _describe_weekly(self.weekly) + zone
        if self.holidays:
            text += ", holidays: " + ", ".join(day.isoformat() for day in sorted(self.holidays))
        return text


def parse_office_hours(spec: str, *, timezone: tzinfo, holidays: str = "") -> OfficeHours:
    """Parse the office-hours setting's weekly hours (and the holidays setting's dates).

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
    """Parse the holidays setting: comma-separated ``YYYY-MM-DD`` dates, may be empty."""
    if not text.strip():
        return frozenset()
    return frozenset(_parse_holiday(item.strip()) for item in text.split(","))


def office_hours_from_call_time(
    call_time: Mapping[str, object],
    holidays: Sequence[Mapping[str, object]],
    *,
    timezone: tzinfo,
    extra_holidays: frozenset[date] = frozenset(),
) -> CallTimeHours:
    """Office hours from a ``vicidial_call_times`` row and the ACTIVE holiday rows.

    See CallTimeHours for how Vicidial reads them. ``extra_holidays`` (from
    the holidays setting) are dates with no office hours at all. Raises OfficeHoursError
    naming the row and column of any malformed value.
    """
    call_time_id = str(call_time.get("call_time_id", "?"))
    where = f"vicidial_call_times {call_time_id!r}"
    listed = _listed_holiday_ids(call_time.get("ct_holidays"), where)
    return CallTimeHours(
        call_time_id=call_time_id,
        default=_hhmm_pair(call_time, "ct_default", where),
        days=tuple(_hhmm_pair(call_time, f"ct_{day}", where) for day in _VICIDIAL_DAYS),
        holidays=_listed_active_holidays(holidays, listed),
        timezone=timezone,
        extra_holidays=extra_holidays,
    )


# HHMM times as Vicidial stores and compares them: 900 is 09:00, 2600 is 02:00 the next day.
HhmmPair = tuple[int, int]


@dataclass(frozen=True)
class CallTimeHolidayRule:
    """One ACTIVE holiday listed in the call time's ct_holidays."""

    holiday_id: str
    day: date
    window: HhmmPair
    method: str  # holiday_method: REPLACE (the column's default) or ADDITION_REVERSE


@dataclass(frozen=True)
class CallTimeHours:
    """Office hours as Vicidial reads a call time: open when either of its readings is.

    Vicidial reads a call time twice, and the two readings differ; CONTRACT 7 says a moment
    is office hours when either says so (when in doubt the API does not run):

    * outbound, bin/AST_VDhopper.pl (build 231116), at each lead's own local time: UTC plus
      the lead's gmt_offset_now (CONTRACT 9; the hopper works out the list of offsets whose
      local time is inside the call time, and dials only leads with one of them). The local
      day's ``ct_<day>`` pair, or the default pair when both are 0; open while
      ``start <= HHMM < stop``, so a stop above 2400 keeps the day open to midnight and no
      further. An ACTIVE listed holiday dated today at the server (the first by holiday_id)
      narrows the pairs: a start below the holiday's is raised, a stop above it lowered,
      whatever the holiday_method (the hopper does not read it);
    * inbound, agi/agi-VDAD_ALL_inbound.agi (build 240227, "Added holiday_method option"), at
      the server's local time: the same pair, open while ``start <= HHMM <= stop`` (the stop
      minute included), and also while HHMM is below yesterday's stop minus 2400 ("call time
      overflow ... past midnight", 111229). ACTIVE listed holidays dated today, in
      ct_holidays order: with ``holiday_method`` REPLACE (or any other value) the holiday's
      pair replaces the day's; with ADDITION_REVERSE the day keeps its pair and the holiday's
      window (``start <= HHMM <= stop``) is closed instead. The overflow from yesterday
      applies either way.
    """

    call_time_id: str
    default: HhmmPair
    days: tuple[HhmmPair, ...]  # Python weekday order (0 = Monday); (0, 0) means "default"
    holidays: tuple[CallTimeHolidayRule, ...]  # in ct_holidays order
    timezone: tzinfo  # the server's local time
    extra_holidays: frozenset[date] = frozenset()

    def is_office_time(self, now: datetime, offsets: Collection[Decimal] | None = None) -> bool:
        """Return True when ``now`` (timezone-aware) is inside office hours.

        `offsets` are the gmt_offset_now values of the leads the hopper could dial: the
        outbound reading is taken at each one's local time. Without them (None) it is taken
        at the server's local time, as for leads in the server's own zone. An empty set
        leaves only the inbound reading: there is no lead to dial.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"is_office_time needs a timezone-aware datetime, got {now!r}")
        local = now.astimezone(self.timezone)
        if local.date() in self.extra_holidays:
            return False
        if self.inbound_open(local):
            return True
        if offsets is None:
            return self.outbound_open(local)
        return self.outbound_open_for_leads(now, offsets, local.date())

    def outbound_open_for_leads(
        self, now: datetime, offsets: Collection[Decimal], server_day: date
    ) -> bool:
        """Whether the hopper could dial a lead of one of these offsets now (holidays as
        dated at the server: `server_day`)."""
        utc = now.astimezone(UTC).replace(tzinfo=None)
        return any(
            self.outbound_open(utc + timedelta(minutes=int(offset * 60)), server_day)
            for offset in offsets
        )

    def outbound_open(self, local: datetime, holiday_day: date | None = None) -> bool:
        """AST_VDhopper.pl's reading of a local wall-clock moment; holidays are those dated
        `holiday_day` (the server's date; by default the local one)."""
        today = local.date() if holiday_day is None else holiday_day
        todays = [h for h in self.holidays if h.day == today]
        default, day = self.default, self.days[local.weekday()]
        if todays:
            first = min(todays, key=lambda h: h.holiday_id.casefold())  # "order by holiday_id"
            default, day = _narrow(default, first.window), _narrow(day, first.window)
        start, stop = default if day == (0, 0) else day
        return start <= _hhmm(local) < stop

    def inbound_open(self, local: datetime) -> bool:
        """agi-VDAD_ALL_inbound.agi's reading of the local wall-clock moment."""
        today, hm = local.date(), _hhmm(local)
        day, yesterday = self.days[today.weekday()], self.days[(today.weekday() - 1) % 7]
        start, stop = day if day[0] > 0 or day[1] > 0 else self.default
        closed_window = False
        for holiday in (h for h in self.holidays if h.day == today):
            low, high = holiday.window
            if "ADDITION_REVERSE" in holiday.method:
                closed_window = closed_window or low <= hm <= high
            else:
                start, stop = low, high
        yesterday_stop = yesterday[1] if yesterday[0] >= 1 or yesterday[1] >= 1 else self.default[1]
        overflow = yesterday_stop - 2400 if yesterday_stop > 2400 else 0
        after_hours = (hm < start or hm > stop or closed_window) and hm >= overflow
        return not after_hours

    @property
    def always_open(self) -> bool:
        """Whether the outbound reading is open at every minute of every day (``24hours``):
        the hopper may dial around the clock."""
        return all(
            start <= 0 and stop >= 2400
            for start, stop in (self.default if day == (0, 0) else day for day in self.days)
        )

    def describe(self) -> str:
        """Return a short human description, e.g. for logs."""
        text = f"Vicidial call time {self.call_time_id!r} ({zone_name(self.timezone)})"
        if self.holidays:
            text += ", holidays: " + ", ".join(
                f"{h.day.isoformat()} {h.method}" for h in self.holidays
            )
        if self.extra_holidays:
            text += ", closed: " + ", ".join(d.isoformat() for d in sorted(self.extra_holidays))
        return text


def _hhmm(local: datetime) -> int:
    return local.hour * 100 + local.minute


def _narrow(pair: HhmmPair, holiday: HhmmPair) -> HhmmPair:
    """AST_VDhopper.pl's holiday rule for one pair: only a pair with a stop is narrowed."""
    start, stop = pair
    if stop > 0:
        start, stop = max(start, holiday[0]), min(stop, holiday[1])
    return start, stop


# --- The weekly hours of the settings ----------------------------------------------------------


def _spec_error(piece: str, reason: str) -> OfficeHoursError:
    return OfficeHoursError(f"cannot parse {piece!r}: {reason}")


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
        raise OfficeHoursError(f"cannot parse {item!r}: expected a date YYYY-MM-DD") from None


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


def _hhmm_pair(row: Mapping[str, object], prefix: str, where: str) -> HhmmPair:
    """Read ``<prefix>_start``/``<prefix>_stop`` as the HHMM numbers Vicidial compares."""
    start, stop = (_hhmm_value(row, f"{prefix}_{edge}", where) for edge in ("start", "stop"))
    return start, stop


def _hhmm_value(row: Mapping[str, object], column: str, where: str) -> int:
    """A SMALLINT UNSIGNED HHMM column as a number; Vicidial never checks its range, and a
    stop above 2400 is a documented way to run past midnight, so none is refused here."""
    if column not in row:
        raise OfficeHoursError(f"{where}: column {column} is missing")
    value = row[column]
    # The per-day columns are nullable; Vicidial's Perl and PHP compare NULL as 0.
    value = 0 if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OfficeHoursError(f"{where}: {column}={value!r} is not an HHMM number")
    return value


def _listed_holiday_ids(value: object, where: str) -> tuple[str, ...]:
    """Split ``ct_holidays`` (``|xmas|newyear|``) into ids, in order, compared without case.

    Vicidial matches them with SQL ``=`` under a case-insensitive collation; the inbound AGI
    skips ids of one character (``length > 1``), so this does too.
    """
    if value is None:
        return ()
    if not isinstance(value, str):
        raise OfficeHoursError(f"{where}: ct_holidays={value!r} is not text")
    return tuple(part.strip().casefold() for part in value.split("|") if len(part.strip()) > 1)


def _listed_active_holidays(
    rows: Sequence[Mapping[str, object]], listed: tuple[str, ...]
) -> tuple[CallTimeHolidayRule, ...]:
    """The ACTIVE holidays the call time lists, in its order; rows that do not count are
    never read (a malformed one that is not listed does not matter to Vicidial either)."""
    by_id: dict[str, Mapping[str, object]] = {}
    for row in rows:
        holiday_id = str(row.get("holiday_id", "")).strip().casefold()
        if str(row.get("holiday_status", "")).upper() == "ACTIVE":
            by_id.setdefault(holiday_id, row)
    rules = []
    for holiday_id in dict.fromkeys(listed):
        if holiday_id not in by_id:
            continue
        row = by_id[holiday_id]
        where = f"vicidial_call_time_holidays {str(row.get('holiday_id', ''))!r}"
        day = _holiday_date(row.get("holiday_date"), where)
        if day is None:
            continue
        method = row.get("holiday_method")
        rules.append(
            CallTimeHolidayRule(
                holiday_id=str(row.get("holiday_id", "")),
                day=day,
                window=_hhmm_pair(row, "ct_default", where),
                method="REPLACE" if method is None else str(method),
            )
        )
    return tuple(rules)


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
