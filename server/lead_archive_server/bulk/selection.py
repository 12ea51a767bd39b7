"""Which leads a bulk run takes, and every read of them: the selection, the sources of lead
IDs, and the dry run's survey.

Leads are selected the way Vicidial's ADMIN_archive_leads.pl selects them (lists, campaigns,
statuses, last-call and entry-date cut-offs, all combined with AND) or taken from a list of
lead IDs. They are read one page at a time (keyset pagination on lead_id), each page one
batch. Nothing here changes the database.

Pages end at a range edge (sql.LEAD_RANGE) whenever more leads follow: under range locks
(LEAD_ARCHIVE_BATCH_LOCKS=ranges) batches in flight at once then never wait for each other
at their common boundary (see whole_ranges).

A rerun finishes an interrupted run: the selection is read again; leads that were moved are
no longer in the source table and so are not selected.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time
from typing import Protocol

from lead_archive_server.bulk.errors import JobError
from lead_archive_server.core import sql
from lead_archive_server.core.db import Database
from lead_archive_server.core.schema import read_archive_schema

# ADMIN_archive_leads.pl's --campaigns=---ALL---: every list in vicidial_lists.
ALL_CAMPAIGNS = "---ALL---"


def _option(name: str) -> dict[str, str]:
    """The command-line option that sets a field: named in messages about the selection."""
    return {"option": name}


@dataclass(frozen=True)
class Selection:
    """Which leads to archive: every cut-off given must hold, as in ADMIN_archive_leads.pl.

    Dates are exclusive: ``called_before`` 2024-01-01 takes leads whose last_local_call_time is
    before 2024-01-01 00:00:00 (never-called leads too: Vicidial's list loader writes
    2008-01-01 00:00:00 for them; a NULL is never before anything), and
    ``entered_before`` works the same on entry_date.

    A new cut-off is a field here (with its option), a condition in ``where`` and a part of
    ``describe``; the option itself is declared in ``options.CommandLine``.
    """

    list_ids: tuple[int, ...] = field(default=(), metadata=_option("--list-id"))
    campaigns: tuple[str, ...] = field(default=(), metadata=_option("--campaign"))
    statuses: tuple[str, ...] = field(default=(), metadata=_option("--status"))
    called_before: date | None = field(default=None, metadata=_option("--called-before"))
    entered_before: date | None = field(default=None, metadata=_option("--entered-before"))

    def __post_init__(self) -> None:
        if self.all_campaigns and len(self.campaigns) > 1:
            raise JobError(f"--campaign {ALL_CAMPAIGNS} takes every list: name no other campaign")

    @classmethod
    def options(cls) -> list[str]:
        """Every option that sets a cut-off, in order."""
        return [item.metadata["option"] for item in fields(cls)]

    @property
    def given(self) -> list[str]:
        """The options of the cut-offs given, in order."""
        return [
            item.metadata["option"]
            for item in fields(self)
            if getattr(self, item.name) != item.default
        ]

    @property
    def is_empty(self) -> bool:
        """True when no cut-off is given (which would select every lead)."""
        return not self.given

    @property
    def all_campaigns(self) -> bool:
        """``--campaign ---ALL---``: the leads of every list in vicidial_lists."""
        return ALL_CAMPAIGNS in self.campaigns

    def describe(self, table: str = sql.LEADS) -> str:
        """One line for people, e.g. ``list 1001, status NEW or SALE``."""
        campaigns = ["every list in vicidial_lists"] if self.all_campaigns else []
        parts = [
            _either("list", [str(i) for i in self.list_ids]),
            *campaigns,
            _either("campaign", [] if campaigns else list(self.campaigns)),
            _either("status", list(self.statuses)),
            f"last called before {self.called_before}" if self.called_before else "",
            f"entered before {self.entered_before}" if self.entered_before else "",
        ]
        return ", ".join(p for p in parts if p) or f"every lead in {table}"

    def where(self) -> sql.LeadFilter:
        """The cut-offs as SQL combined with AND; campaigns are resolved to lists first."""
        if self.campaigns:
            raise ValueError("campaigns are read as their lists first (select)")
        conditions = [
            _among("list_id", self.list_ids),
            _among("status", self.statuses),
            # As ADMIN_archive_leads.pl. Vicidial's list loader writes 2008-01-01 00:00:00
            # here for a new lead, so never-called leads are taken; only a NULL (a lead
            # written by other means) is before nothing.
            _before("last_local_call_time", self.called_before),
            _before("entry_date", self.entered_before),
        ]
        given = [condition for condition in conditions if condition is not None]
        return sql.LeadFilter(
            "".join(f" AND {clause}" for clause, _ in given),
            tuple(arg for _, args in given for arg in args),
        )


_Condition = tuple[str, tuple[object, ...]]


def _among(column: str, values: Sequence[object]) -> _Condition | None:
    return (f"{column} IN ({sql.placeholders(len(values))})", tuple(values)) if values else None


def _before(column: str, day: date | None) -> _Condition | None:
    return None if day is None else (f"{column} < %s", (datetime.combine(day, time.min),))


def _either(name: str, values: list[str]) -> str:
    return f"{name} {' or '.join(values)}" if values else ""


def refuse_beside_listed_ids(given: Sequence[str]) -> None:
    """--ids-from selects the leads itself: JobError naming any other selection option."""
    if given:
        raise JobError(f"--ids-from selects the leads itself: leave out {', '.join(given)}")


# --- Where the leads come from ------------------------------------------------------------------


class LeadSource(Protocol):
    """Pages of lead IDs to archive, and how many there are when the run starts."""

    @property
    def total(self) -> int:
        """How many leads the source holds (counted when it was opened)."""
        ...

    def pages(self) -> AsyncGenerator[list[int], None]:
        """Yield the lead IDs one batch at a time."""
        ...


@dataclass
class SelectedLeads:
    """Leads that match a selection now, read page by page in lead_id order."""

    db: Database
    where: sql.LeadFilter
    page_size: int
    counted: int = 0
    table: str = sql.LEADS  # the archive, for a restore

    @property
    def total(self) -> int:
        """How many leads matched when they were counted."""
        return self.counted

    async def count(self) -> int:
        """Count the matching leads (one set-based query)."""
        async with self.db.session() as session:
            rows = await session.fetch_all(
                sql.count_selected(self.where, self.table), self.where.args
            )
        self.counted = int(rows[0][0])
        return self.counted

    async def pages(self) -> AsyncGenerator[list[int], None]:
        """Yield pages after the last lead_id seen, so deleted leads never shift a page."""
        last = 0
        while True:
            async with self.db.session() as session:
                rows = await session.fetch_all(
                    sql.select_page(self.where, self.table),
                    (last, *self.where.args, self.page_size),
                )
            page = [int(row[0]) for row in rows]
            if not page:
                return
            page = whole_ranges(page, more_may_follow=len(page) == self.page_size)
            yield page
            last = page[-1]


@dataclass
class ListedLeads:
    """Lead IDs the operator listed, in lead_id order."""

    lead_ids: Sequence[int]
    page_size: int

    @property
    def total(self) -> int:
        """How many distinct lead IDs were listed."""
        return len(self.lead_ids)

    async def pages(self) -> AsyncGenerator[list[int], None]:
        """Yield the list in slices (cut at range edges, as every source's pages)."""
        start = 0
        while start < len(self.lead_ids):
            end = start + self.page_size
            page = whole_ranges(list(self.lead_ids[start:end]), end < len(self.lead_ids))
            yield page
            start += len(page)


def whole_ranges(page: list[int], more_may_follow: bool) -> list[int]:
    """A page of ascending lead IDs, cut before the range of IDs (sql.LEAD_RANGE) its last
    lead is in when more leads may follow, so that the next page starts in a range of its own.

    Consecutive pages then never touch the same range, and batches in flight side by side
    never wait for each other's range lock. A page that lies in one range is kept whole: it
    cannot be cut (a batch size under 500 on a dense list); such pages take turns.
    """
    if not more_may_follow:
        return page
    edge = bisect_left(page, page[-1] // sql.LEAD_RANGE * sql.LEAD_RANGE)
    return page[:edge] or page


async def select(db: Database, selection: Selection, page_size: int, table: str) -> SelectedLeads:
    """The leads of a table that match a selection now, counted; campaigns are resolved to
    their lists first."""
    if selection.campaigns:
        lists = await _lists_of(db, selection.campaigns, selection.list_ids)
        selection = replace(selection, list_ids=lists, campaigns=())
    source = SelectedLeads(db, selection.where(), page_size, table=table)
    await source.count()
    return source


async def _lists_of(db: Database, campaigns: Sequence[str], only: Sequence[int]) -> tuple[int, ...]:
    """The lists of the campaigns (within ``only`` when given), or JobError if there are none."""
    async with db.session() as session:
        exists = await session.fetch_all(sql.TABLE_EXISTS, (sql.LISTS,))
        if not exists[0][0]:
            raise JobError(f"--campaign needs Vicidial's {sql.LISTS} table, which is missing")
        if ALL_CAMPAIGNS in campaigns:
            rows = await session.fetch_all(sql.ALL_LISTS)
        else:
            rows = await session.fetch_all(sql.campaign_lists(len(campaigns)), campaigns)
    lists = tuple(int(row[0]) for row in rows)
    named = " or ".join(campaigns)
    if not lists:
        raise JobError(f"campaign {named} has no lists in {sql.LISTS}")
    if only:
        lists = tuple(list_id for list_id in lists if list_id in only)
        if not lists:
            raise JobError(f"list {' or '.join(map(str, only))} is not in campaign {named}")
    return lists


async def present(db: Database, table: str, lead_ids: Sequence[int]) -> set[int]:
    """Which of the lead IDs a table holds."""
    async with db.session() as session:
        rows = await session.fetch_all(sql.leads_present(table, len(lead_ids)), lead_ids)
    return {int(row[0]) for row in rows}


# --- Dry run ---------------------------------------------------------------------------------


@dataclass
class Survey:
    """What a run would do, read without changing anything.

    The names are the archive's; for a restore "archived" reads "already in vicidial_list",
    and a lead whose live row differs is kept in both tables instead of updated.
    """

    selected: int = 0
    not_archived: int = 0  # would be inserted, then deleted
    archived_same: int = 0  # have an identical copy: would only be deleted
    archived_different: int = 0  # have an older copy: would be updated, then deleted
    already_archived: int = 0  # listed IDs no longer in the source, but in the target
    not_found: int = 0  # listed IDs in neither table
    drift: str | None = None  # why the API would refuse every batch, if it would


async def survey(
    db: Database,
    source: LeadSource,
    watch: Callable[[int], None] = lambda done: None,
    flow: sql.Flow = sql.ARCHIVING,
) -> Survey:
    """Classify every lead of the source, page by page; ``watch`` gets the leads done so far."""
    async with db.session() as session:
        schema = await read_archive_schema(session)
    if flow == sql.RESTORING:
        schema = schema.for_restore()
    result = Survey(selected=source.total, drift=schema.drift)
    if schema.drift:
        return result
    done = 0
    async for page in source.pages():
        async with db.session() as session:
            rows = await session.fetch_all(sql.survey_leads(schema.columns, len(page), flow), page)
        for _, archived, same in rows:
            if not archived:
                result.not_archived += 1
            elif same:
                result.archived_same += 1
            else:
                result.archived_different += 1
        absent = set(page) - {int(row[0]) for row in rows}
        if absent:
            in_target = len(await present(db, flow.target, sorted(absent)))
            result.already_archived += in_target
            result.not_found += len(absent) - in_target
        done += len(page)
        watch(done)
    return result
