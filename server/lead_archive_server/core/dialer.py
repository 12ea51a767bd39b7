"""The delete phase beside Vicidial's dialer (CONTRACT 6): which dialer tables to consult,
and the guarded delete itself. SAFETY.md ("The dialer") explains the order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from lead_archive_server.core import sql
from lead_archive_server.core.db import NoSuchTable, ResultSet, Session
from lead_archive_server.core.errors import TransientConflict
from lead_archive_server.core.phases import phase
from lead_archive_server.core.steps import Step, StepHook

log = logging.getLogger(__name__)


class DialerTablesChanged(TransientConflict):
    """A dialer table went away since the batch looked: run the batch again."""


class DialerTables:
    """Which dialer tables each database has, looked up again only where one was missing.

    A table that exists stays cached until a statement finds it gone (NoSuchTable): the
    batch then forgets what it knew and runs again. A missing table is asked for again by
    every batch (a lookup in the data dictionary, riding in the batch's first round trip),
    so a table that appears is consulted from the next batch on. A full Vicidial database
    has all four and pays for no lookup at all.
    """

    def __init__(self) -> None:
        self._present: dict[str, frozenset[str]] = {}

    def known(self, database: str) -> frozenset[str]:
        """The tables known to exist (nothing is known before the first batch)."""
        return self._present.get(database, frozenset())

    def to_ask(self, database: str) -> tuple[str, ...]:
        """The tables to look up in this batch: those not known to exist."""
        known = self.known(database)
        return tuple(table for table in sql.DIALER_TABLES if table not in known)

    def learn(self, database: str, found: frozenset[str]) -> frozenset[str]:
        """Add tables a lookup found; return every table known to exist."""
        present = self.known(database) | found
        self._present[database] = present
        return present

    def forget(self, database: str) -> None:
        """A table went away: ask for all of them again."""
        self._present.pop(database, None)


@dataclass(frozen=True)
class DialerRead:
    """What the batch's first round trip asks about the dialer, and how to read the answer."""

    database: str
    asked: tuple[str, ...]  # tables looked up (not known to exist)
    span: tuple[int, int] | None  # (lowest, highest) lead_id, when the hopper is known

    @classmethod
    def plan(cls, tables: DialerTables, database: str, lead_ids: Sequence[int]) -> DialerRead:
        known = sql.HOPPER in tables.known(database)
        span = (min(lead_ids), max(lead_ids)) if known else None
        return cls(database, tables.to_ask(database), span)

    def membership(self, select: str, args: Sequence[int]) -> tuple[str, tuple[int, ...]]:
        """The batch's membership query and its arguments, with the hopper span column
        (sql.with_hopper_span) when the hopper is known to exist."""
        if self.span is None:
            return select, tuple(args)
        return sql.with_hopper_span(select), (*self.span, *args)

    @property
    def statements(self) -> str:
        """`; …` to append to the first round trip (empty when no table is asked for)."""
        return f"; {sql.dialer_tables_present(self.asked)}" if self.asked else ""

    def read(
        self, tables: DialerTables, sets: list[ResultSet], hopper_rows: int | None
    ) -> DialerState:
        """The tables present and whether the hopper may hold rows of the batch's leads;
        `hopper_rows` is the membership row's span column (None without one)."""
        found: frozenset[str] = frozenset()
        if self.asked:
            found = frozenset(_text(row[0]) for row in sets[0].rows)
        present = tables.learn(self.database, found)
        # Without a span read (the hopper was just found): assume rows, run the cleanup.
        return DialerState(present, hopper_rows is None or hopper_rows > 0)


@dataclass(frozen=True)
class DialerState:
    """The dialer tables present, and whether the hopper has rows in the batch's span."""

    present: frozenset[str]
    hopper_rows: bool


def delete_steps(
    columns: tuple[str, ...], lead_ids: Sequence[int], state: DialerState | None
) -> tuple[Step, Step]:
    """The delete phase's first statements: the READY hopper rows, then the leads.

    Without the guard (or with no dialer table present): no hopper step, the plain delete.
    Under it: the READY hopper rows of the leads about to go (skipped when the hopper has no
    row in the batch's span), then the leads, each statement checking the dialer tables
    itself; with the hopper empty there, the cheap form first (it deletes nothing if any
    dialer table has a row in the span: finish_delete then runs the guarded form). A crash
    between the hopper cleanup and the delete leaves leads without READY hopper rows, never a
    hopper row without its lead.
    """
    count = len(lead_ids)
    if state is None or not state.present:
        return Step("hopper"), Step("delete", sql.delete_archived(columns, count), lead_ids)
    present, hopper = state.present, Step("hopper")
    if sql.HOPPER in present and state.hopper_rows:
        statement = sql.delete_ready_hopper_rows(columns, count, present)
        hopper = Step("hopper", statement, sql.guard_args(lead_ids, present, skip=sql.HOPPER))
    if state.hopper_rows:  # the dialer has rows near these leads: the guarded form at once
        statement = sql.delete_archived_guarded(columns, count, present)
        return hopper, Step("delete", statement, sql.guard_args(lead_ids, present))
    statement = sql.delete_archived_if_dialer_idle(columns, count, present)
    return hopper, Step("delete", statement, sql.guard_args(lead_ids, present, spans=1))


async def finish_delete(
    session: Session,
    columns: tuple[str, ...],
    lead_ids: Sequence[int],
    state: DialerState | None,
    deleted: int,
    after_step: StepHook,
) -> tuple[int, int]:
    """Complete the delete phase after delete_steps ran (`deleted` by its delete): (leads
    deleted, leads kept because the dialer uses them).

    When the cheap form deleted nothing, the dialer has rows near these leads (or none is
    deletable): the guarded form runs. Then the leads kept in use are counted. A dialer table
    gone meanwhile: DialerTablesChanged (the batch reruns).
    """
    if state is None or not state.present:
        await after_step("delete", session)
        return deleted, 0
    count, present = len(lead_ids), state.present
    with dialer_tables_may_go():
        if not deleted and not state.hopper_rows:
            statement = sql.delete_archived_guarded(columns, count, present)
            with phase("delete"):
                deleted = await session.execute(statement, sql.guard_args(lead_ids, present))
        await after_step("delete", session)
        if deleted == count:
            return deleted, 0
        with phase("delete"):
            rows = await session.fetch_all(sql.count_in_use(columns, count, present), lead_ids)
    return deleted, int(rows[0][0])


@contextmanager
def dialer_tables_may_go() -> Iterator[None]:
    """Around statements that read the dialer tables: one gone since the batch looked
    (NoSuchTable) is DialerTablesChanged, and the batch reruns."""
    try:
        yield
    except NoSuchTable:
        log.info("a dialer table went away during the batch; running it again")
        raise DialerTablesChanged() from None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
