"""Where office hours come from, kept current: the settings' weekly hours, a Vicidial call time
at each lead's own local time, or the dialer itself (CONTRACT 5, 7 and 9).

Each source gives the guard a Schedule for the moment it checks. What they read from the
database is cached as the contract allows: the server's local time (the database server's
clock, read again every 15 minutes), the offsets of leads in active lists (at most once a
minute, in the background, never on a request), the dialer's live rows and configuration
(at most every 5 seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lead_archive_client.vocabulary import Reason

from lead_archive_server.access.office_hours import (
    HIGHEST_OFFSET,
    LOWEST_OFFSET,
    CallTimeHours,
    OfficeHours,
    OfficeHoursError,
    fixed_zone,
    lead_offset,
    office_hours_from_call_time,
    zone_name,
)
from lead_archive_server.core import sql
from lead_archive_server.core.db import Database, NoSuchTable, Session
from lead_archive_server.core.errors import ArchiveError, ServerError

log = logging.getLogger(__name__)

Ticker = Callable[[], float]  # monotonic seconds; tests pass their own
# Every offset Vicidial can give a lead, for a list whose offsets are not read yet: when in
# doubt the API does not run.
EVERY_OFFSET = frozenset(
    LOWEST_OFFSET + Decimal("0.25") * step
    for step in range(int((HIGHEST_OFFSET - LOWEST_OFFSET) * 4) + 1)
)
ZONE_MAX_AGE_S = 900.0  # the database clock, read again for DST (CONTRACT 9: at least hourly)
OFFSETS_MAX_AGE_S = 60.0  # leads' offsets per list (CONTRACT 9: at most once a minute)
DIALER_MAX_AGE_S = 5.0  # the dialer's live rows (CONTRACT 9: at most 5 seconds)
RETRY_AFTER_FAILURE_S = 5.0
# The leads' offsets take at most this share of the time between reads (on a table so big that
# a read takes more than a second and a half, reads come further apart than once a minute).
READ_SHARE = 1 / 40


@dataclass(frozen=True)
class SettingNames:
    """The settings office hours come from, by the names an operator knows them by (for the
    lines that tell the operator what to fix; the names themselves live with the settings)."""

    office_hours: str
    call_time_id: str
    timezone: str


@dataclass(frozen=True)
class OfficeHoursConfig:
    """Where office hours come from, as the settings say, parsed: the dialer itself, a
    Vicidial call time, or weekly hours (`weekly`, its zone a placeholder: the server's local
    time is read when office hours are)."""

    weekly: OfficeHours
    dialer: bool
    call_time_id: str
    holidays: frozenset[date]
    zone: ZoneInfo | None  # None: the database server's clock
    names: SettingNames


def office_hours_source(config: OfficeHoursConfig, db: Database) -> OfficeHoursSource:
    """The source the config names, at the server's local time."""
    zone = ServerZone(db, config.zone, setting=config.names.timezone)
    if config.dialer:
        return DialerHours(db, config.names.office_hours, config.holidays, zone, LeadOffsets(db))
    if config.call_time_id:
        return CallTimeSource(
            db,
            config.call_time_id,
            config.names.call_time_id,
            config.holidays,
            zone,
            LeadOffsets(db),
        )
    return WeeklyHours(config.weekly, zone)


class Schedule(Protocol):
    """Office hours at a moment (a snapshot of what its source read)."""

    def is_office_time(self, now: datetime) -> bool:
        """Whether `now` (timezone-aware) is inside office hours."""
        ...


class OfficeHoursSource(Protocol):
    """Where the guard gets office hours from."""

    async def schedule(self) -> Schedule:
        """Office hours as they stand now."""
        ...

    async def start(self) -> list[str]:
        """Read everything once (start-up); return warnings for the operator, or raise
        ServerError with one line when the source cannot work."""
        ...

    def describe(self) -> str:
        """What office hours follow, for the start-up line and `config show`."""
        ...

    async def close(self) -> None:
        """Stop any background read."""
        ...


class CallTimeGone(ServerError):
    """The call time that sets office hours went away after start-up (a 500 for callers:
    the message names no setting, which is the operator's business; health says more)."""

    reason = Reason.CALL_TIME_MISSING


class ServerZone:
    """The zone of the server's local time: the configured one, else the database server's
    clock (a named zone when MariaDB has one, else its offset from UTC now, read again every
    ZONE_MAX_AGE_S so that a DST change is followed)."""

    def __init__(
        self,
        db: Database,
        configured: ZoneInfo | None,
        *,
        setting: str,
        max_age_s: float = ZONE_MAX_AGE_S,
        ticker: Ticker = time.monotonic,
    ) -> None:
        self._db, self._configured, self._setting = db, configured, setting
        self._max_age_s, self._ticker = max_age_s, ticker
        self._zone: tzinfo | None = None
        self._read_at = float("-inf")

    async def get(self) -> tzinfo:
        """The zone now (a database error with nothing read yet propagates)."""
        if self._configured is not None:
            return self._configured
        if self._zone is None or self._ticker() - self._read_at >= self._max_age_s:
            try:
                await self._read()
            except ArchiveError:
                if self._zone is None:
                    raise
                log.warning("cannot read the database server's clock; keeping %s", self.name)
                self._read_at = self._ticker() - self._max_age_s + RETRY_AFTER_FAILURE_S
        assert self._zone is not None
        return self._zone

    async def _read(self) -> None:
        async with self._db.session() as session:
            rows = await session.fetch_all(sql.DATABASE_CLOCK)
        name, minutes = _text(rows[0][0]), int(rows[0][1])
        zone = _named_zone(name) or fixed_zone(minutes)
        if self._zone is not None and zone != self._zone:
            log.info("the database server's clock is now %s", zone_name(zone))
        self._zone, self._read_at = zone, self._ticker()

    @property
    def name(self) -> str:
        """The zone's name or offset, as far as known."""
        zone = self._configured or self._zone
        return zone_name(zone) if zone is not None else "not read yet"

    def describe(self) -> str:
        """The zone and where it comes from."""
        if self._configured is not None:
            return f"{self.name} (from {self._setting})"
        return f"{self.name} (the database server's clock; {self._setting} is not set)"


def _named_zone(name: str) -> ZoneInfo | None:
    """An IANA zone MariaDB names (its time zone tables loaded), else None (SYSTEM, offsets
    and abbreviations are read as the offset they give now)."""
    if "/" not in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class ActiveList:
    """A list the hopper dials from, and the call time it follows."""

    list_id: int
    campaign_id: str
    local_call_time: str  # "campaign": the campaign's


class LeadOffsets:
    """The gmt_offset_now values of the leads of each active list.

    Read in the background, at most once every OFFSETS_MAX_AGE_S and never more often than
    READ_SHARE allows (a read that took 6 s waits 180 s before the next): a request uses what
    the last read found and, when it is older, starts the next read without waiting for it.
    Only the very first read (at start-up) is waited for. On MyISAM each list is its own
    statement (vicidial_list's read lock is held for one list's leads at a time); on InnoDB
    one statement, which the optimizer turns into one pass over the table when the lists
    hold many of its leads.
    """

    def __init__(
        self, db: Database, *, max_age_s: float = OFFSETS_MAX_AGE_S, ticker: Ticker = time.monotonic
    ) -> None:
        self._db, self._max_age_s, self._ticker = db, max_age_s, ticker
        self._by_list: dict[int, frozenset[Decimal]] | None = None
        self._read_at = float("-inf")
        self._reading: asyncio.Task[None] | None = None
        self._myisam: bool | None = None
        self.last_read_s = 0.0  # how long the last read took
        self.read_count = 0

    async def current(self) -> Mapping[int, frozenset[Decimal]]:
        """Offsets by list_id of every list active at the last read."""
        if self._by_list is None:
            await self._read()
        elif self._ticker() - self._read_at >= self._interval_s:
            self.refresh()
        assert self._by_list is not None
        return self._by_list

    @property
    def _interval_s(self) -> float:
        return max(self._max_age_s, self.last_read_s / READ_SHARE)

    def refresh(self) -> None:
        """Start a read in the background, unless one is under way."""
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._read_logged())

    async def _read_logged(self) -> None:
        """The background read: a failure keeps what was read, and the next read comes a
        little later (a background task has no caller to raise to)."""
        try:
            await self._read()
        except Exception as error:
            unexpected = not isinstance(error, ArchiveError)
            log.warning(
                "cannot read the offsets of leads in active lists: %s", error, exc_info=unexpected
            )
            self._read_at = self._ticker() - self._interval_s + RETRY_AFTER_FAILURE_S

    async def _read(self) -> None:
        started = time.perf_counter()
        async with self._db.session() as session:
            lists = [active.list_id for active in await active_lists(session)]
            if self._myisam is None:
                engine = await session.fetch_all(sql.TABLE_ENGINE, (sql.LEADS,))
                self._myisam = bool(engine) and _text(engine[0][0]) == "MyISAM"
            by_list: dict[int, set[Decimal]] = {list_id: set() for list_id in lists}
            if lists and self._myisam:
                sets = await session.fetch_sets(sql.lead_offsets_of_lists(len(lists)), lists)
                for list_id, found in zip(lists, sets, strict=True):
                    by_list[list_id].update(_offsets(found.rows))
            elif lists:
                rows = await session.fetch_all(sql.lead_offsets_grouped(len(lists)), lists)
                for list_id, offset in rows:
                    by_list[int(list_id)].update(_offsets([(offset,)]))
        self._by_list = {list_id: frozenset(found) for list_id, found in by_list.items()}
        self._read_at = self._ticker()
        self.last_read_s = time.perf_counter() - started
        self.read_count += 1

    async def close(self) -> None:
        """Stop a read under way."""
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reading


def offsets_of(
    lists: Sequence[ActiveList],
    by_list: Mapping[int, frozenset[Decimal]],
    offsets: LeadOffsets,
) -> dict[int, frozenset[Decimal]]:
    """The offsets of each list's leads; a list activated since the last read counts as
    having leads in every zone (when in doubt, the API waits), and starts the next read."""
    found = {}
    for active in lists:
        known = by_list.get(active.list_id)
        if known is None:
            offsets.refresh()
            known = EVERY_OFFSET
        found[active.list_id] = known
    return found


def _offsets(rows: Sequence[tuple[Any, ...]]) -> frozenset[Decimal]:
    return frozenset(o for o in (lead_offset(row[0]) for row in rows) if o is not None)


# --- The settings' weekly hours ---------------------------------------------------------------


@dataclass
class WeeklyHours:
    """LEAD_ARCHIVE_OFFICE_HOURS as weekly windows at the server's local time."""

    hours: OfficeHours  # its timezone is replaced by the server's on every read
    zone: ServerZone

    async def schedule(self) -> Schedule:
        """The windows in the server's zone as it stands now."""
        return replace(self.hours, timezone=await self.zone.get())

    async def start(self) -> list[str]:
        """Read the server's zone."""
        await self.zone.get()
        return []

    def describe(self) -> str:
        """The windows, and the zone they are read in."""
        return f"{self.hours.describe_windows()} at the server's local time: {self.zone.describe()}"

    async def close(self) -> None:
        """Nothing runs in the background."""


# --- A Vicidial call time at each lead's local time --------------------------------------------


@dataclass(frozen=True)
class AtLeadTimes:
    """A call time read at the local times of the leads the hopper could dial."""

    hours: CallTimeHours
    offsets: frozenset[Decimal]

    def is_office_time(self, now: datetime) -> bool:
        """Outbound at any lead's local time, or inbound at the server's (CONTRACT 9)."""
        return self.hours.is_office_time(now, self.offsets)


@dataclass
class CallTimeSource:
    """LEAD_ARCHIVE_CALL_TIME_ID: the call time row and the active lists (read on every
    request, one round trip), the offsets of their leads (LeadOffsets) and the server's
    zone."""

    db: Database
    call_time_id: str
    setting: str  # the setting that names it, for the start-up refusal
    extra_holidays: frozenset[date]
    zone: ServerZone
    offsets: LeadOffsets

    async def schedule(self) -> Schedule:
        """The call time now, at the offsets of the leads of the active lists."""
        zone = await self.zone.get()
        try:
            async with self.db.session() as session:
                rows, holidays = await session.fetch_dict_sets(
                    _CALL_TIME_READ, (self.call_time_id,)
                )
                lists = await active_lists(session)
        except NoSuchTable:
            raise CallTimeGone() from None
        if not rows:
            raise CallTimeGone()
        hours = _call_time(rows[0], holidays, zone, self.extra_holidays)
        by_list = offsets_of(lists, await self.offsets.current(), self.offsets)
        return AtLeadTimes(hours, frozenset().union(*by_list.values()))

    async def start(self) -> list[str]:
        """Stop with one line when the call time does not exist; read zone and offsets."""
        reason = await call_time_missing(self.db, self.call_time_id, self.setting)
        if reason is not None:
            raise ServerError(message=reason)
        await self.zone.get()
        await self.offsets.current()
        return []

    def describe(self) -> str:
        """The call time, and the local times it is read at."""
        return (
            f"Vicidial call time {self.call_time_id!r} at each lead's local time (the "
            "gmt_offset_now of leads in active lists, read every minute) and, for inbound "
            f"calls, at the server's: {self.zone.describe()}"
        )

    async def close(self) -> None:
        """Stop a background read of the offsets."""
        await self.offsets.close()


_CALL_TIME_READ = f"{sql.SELECT_CALL_TIME}; {sql.SELECT_CALL_TIME_HOLIDAYS}"


async def active_lists(session: Session) -> list[ActiveList]:
    """The lists the hopper dials from (none in a database without vicidial_lists)."""
    try:
        rows = await session.fetch_all(sql.ACTIVE_LISTS)
    except NoSuchTable:
        return []
    return [_active_list(*row) for row in rows]


def _call_time(
    row: Mapping[str, object],
    holidays: Sequence[Mapping[str, object]],
    zone: tzinfo,
    extra_holidays: frozenset[date],
) -> CallTimeHours:
    try:
        return office_hours_from_call_time(
            row, holidays, timezone=zone, extra_holidays=extra_holidays
        )
    except OfficeHoursError as error:
        raise ServerError(message=str(error)) from None


async def call_time_missing(db: Database, call_time_id: str, setting: str) -> str | None:
    """Why the call time cannot be read (one line naming the setting), or None when it can."""
    try:
        async with db.session() as session:
            rows = await session.fetch_all(sql.CALL_TIME_EXISTS, (call_time_id,))
    except NoSuchTable:
        return f"{setting}: no {sql.CALL_TIMES} table in the database"
    if not rows[0][0]:
        return f"{setting}: no call time {call_time_id!r} in {sql.CALL_TIMES}"
    return None


# --- The dialer itself --------------------------------------------------------------------------


@dataclass(frozen=True)
class DialerSchedule:
    """The dialer as last read: busy (an agent logged in, a call up), or the call time of
    each list it could dial with the offsets of that list's leads."""

    busy: bool
    plans: tuple[AtLeadTimes, ...]

    def is_office_time(self, now: datetime) -> bool:
        """Busy, or some active campaign could dial one of its leads (CONTRACT 9)."""
        return self.busy or any(plan.is_office_time(now) for plan in self.plans)


@dataclass(frozen=True)
class DialerConfig:
    """What the dialer's tables said at one read."""

    busy: bool
    campaigns: Mapping[str, str]  # active campaign_id -> local_call_time
    lists: tuple[ActiveList, ...]  # active lists of active campaigns
    call_times: Mapping[str, Mapping[str, object]]  # call_time_id (casefolded) -> row
    holidays: tuple[Mapping[str, object], ...]

    def call_time_of(self, active: ActiveList) -> str:
        """The call time a list's leads follow: its own, or its campaign's."""
        own = active.local_call_time
        return self.campaigns[active.campaign_id] if own.casefold() == "campaign" else own


@dataclass
class DialerHours:
    """LEAD_ARCHIVE_OFFICE_HOURS=dialer: office hours while the dialer is busy or could dial.

    The live rows and the campaigns, lists and call times are read together, at most every
    DIALER_MAX_AGE_S (one round trip of five small reads); the offsets per list come from
    LeadOffsets (at most once a minute). A list that is active but not yet in the offsets
    read counts as having leads of every offset until the next read (started at once).
    """

    db: Database
    setting: str
    extra_holidays: frozenset[date]
    zone: ServerZone
    offsets: LeadOffsets
    max_age_s: float = DIALER_MAX_AGE_S
    ticker: Ticker = time.monotonic
    _config: DialerConfig | None = field(default=None, init=False)
    _read_at: float = field(default=float("-inf"), init=False)

    async def schedule(self) -> Schedule:
        """The dialer as it stands (read again when the last read is too old)."""
        config = await self._current()
        if config.busy:
            return DialerSchedule(True, ())
        zone = await self.zone.get()
        by_list = offsets_of(config.lists, await self.offsets.current(), self.offsets)
        plans = tuple(
            AtLeadTimes(self._hours(config, active, zone), by_list[active.list_id])
            for active in config.lists
            if by_list[active.list_id]  # a list without leads dials nothing
        )
        return DialerSchedule(False, plans)

    def _hours(self, config: DialerConfig, active: ActiveList, zone: tzinfo) -> CallTimeHours:
        call_time_id = config.call_time_of(active)
        row = config.call_times.get(call_time_id.casefold())
        if row is None:  # Vicidial could not read it either; when in doubt, the API waits
            row = {"call_time_id": call_time_id, "ct_default_start": 0, "ct_default_stop": 2400}
            row |= {f"ct_{d}_{e}": 0 for d in _DAYS for e in ("start", "stop")}
        return _call_time(row, config.holidays, zone, self.extra_holidays)

    async def _current(self) -> DialerConfig:
        if self._config is None or self.ticker() - self._read_at >= self.max_age_s:
            self._config, self._read_at = await self._read(), self.ticker()
        return self._config

    async def _read(self) -> DialerConfig:
        async with self.db.session() as session:
            busy, campaigns, lists, call_times, holidays = await session.fetch_dict_sets(
                _DIALER_READ
            )
        active = {_text(row["campaign_id"]): _text(row["local_call_time"]) for row in campaigns}
        return DialerConfig(
            busy=bool(next(iter(busy[0].values()))),
            campaigns=active,
            lists=tuple(
                _active_list(row["list_id"], row["campaign_id"], row["local_call_time"])
                for row in lists
                if _text(row["campaign_id"]) in active
            ),
            call_times={_text(row["call_time_id"]).casefold(): row for row in call_times},
            holidays=tuple(holidays),
        )

    async def start(self) -> list[str]:
        """Stop with one line naming a missing table; warn of campaigns that always dial."""
        await self._require_tables()
        config = await self._current()
        await self.zone.get()
        await self.offsets.current()
        return self._warnings(config)

    async def _require_tables(self) -> None:
        async with self.db.session() as session:
            for table in sql.DIALER_SCHEDULE_TABLES:
                rows = await session.fetch_all(sql.TABLE_EXISTS, (table,))
                if not rows[0][0]:
                    raise ServerError(
                        message=f"{self.setting}=dialer: no {table} table in the database "
                        "(it reads Vicidial's dialer tables; not a full Vicidial database?)"
                    )

    def _warnings(self, config: DialerConfig) -> list[str]:
        warnings = []
        for campaign_id, call_time_id in sorted(config.campaigns.items()):
            row = config.call_times.get(call_time_id.casefold())
            if row is None:
                warnings.append(
                    f"campaign {campaign_id!r} names call time {call_time_id!r}, which is not "
                    f"in {sql.CALL_TIMES}: it counts as dialing around the clock"
                )
            elif _call_time(row, (), UTC, frozenset()).always_open:
                warnings.append(
                    f"campaign {campaign_id!r} dials around the clock (call time "
                    f"{call_time_id!r}): while it is active, {self.setting}=dialer never "
                    "lets the API run"
                )
        return warnings

    def describe(self) -> str:
        """What the dialer mode reads, and how often."""
        return (
            "from the dialer: while an agent is logged in or a call is up (read every "
            f"{self.max_age_s:g} s), or while an active campaign could dial a lead of its "
            "active lists at the lead's local time (offsets read every minute); server time "
            f"{self.zone.describe()}"
        )

    async def close(self) -> None:
        """Stop a background read of the offsets."""
        await self.offsets.close()


_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
# The dialer's live rows and configuration, in one round trip.
_DIALER_READ = "; ".join(
    (
        sql.DIALER_BUSY,
        sql.ACTIVE_CAMPAIGNS,
        sql.ACTIVE_LISTS,
        sql.SELECT_CALL_TIMES,
        sql.SELECT_CALL_TIME_HOLIDAYS,
    )
)


def _active_list(list_id: object, campaign_id: object, local_call_time: object) -> ActiveList:
    return ActiveList(int(str(list_id)), _text(campaign_id), _text(local_call_time) or "campaign")


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)
