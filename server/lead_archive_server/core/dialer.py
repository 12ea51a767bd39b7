"""The delete phase beside Vicidial's dialer (CONTRACT 6 and 9): which dialer tables and
columns to consult, the guarded delete itself, and the hopper's sweep after the COMMIT.
SAFETY.md ("The dialer") explains the order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from lead_archive_server.core import sql
from lead_archive_server.core.db import NoSuchTable, ResultSet, Session, Statement
from lead_archive_server.core.errors import TransientConflict
from lead_archive_server.core.phases import phase
from lead_archive_server.core.steps import Step

log = logging.getLogger(__name__)

# How long a statement that reads the dialer's tables after the batch's first delete may wait
# for a table lock. By then an InnoDB batch holds row locks on the leads it deleted; a dialer
# statement that locked a MEMORY table (the hopper) and then waits for one of those rows
# (INSERT INTO vicidial_hopper … SELECT … FROM vicidial_list) would wait for the batch while
# the batch waits for its table: a deadlock neither engine sees. The batch gives up first
# (1205, rolled back, run again), and the dialer's statement goes on.
TABLE_LOCK_WAIT_S = 2


class DialerTablesChanged(TransientConflict):
    """A dialer table or column went away since the batch looked: run the batch again."""


class DialerTables:
    """Which of the dialer's lead columns (sql.IN_USE, as `table.column`) each database has,
    looked up again only where one was missing.

    A column that exists stays cached until a statement finds it gone (NoSuchTable): the
    batch then forgets what it knew and runs again. A missing one is asked for again by
    every batch (a lookup in the data dictionary, riding in the batch's first round trip),
    so a table or column that appears is consulted from the next batch on. A full Vicidial
    database has them all and pays for no lookup at all; an older one without
    `preview_lead_id` or `external_lead_id` pays for one small lookup a batch.
    """

    def __init__(self) -> None:
        self._present: dict[str, frozenset[str]] = {}

    def known(self, database: str) -> frozenset[str]:
        """The `table.column` keys known to exist (nothing before the first batch)."""
        return self._present.get(database, frozenset())

    def to_ask(self, database: str) -> tuple[str, ...]:
        """The keys to look up in this batch: those not known to exist."""
        known = self.known(database)
        return tuple(key for key in sql.IN_USE_KEYS if key not in known)

    def learn(self, database: str, found: frozenset[str]) -> frozenset[str]:
        """Add keys a lookup found; return every key known to exist."""
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
    asked: tuple[str, ...]  # `table.column` keys looked up (not known to exist)
    span: tuple[int, int] | None  # (lowest, highest) lead_id, when the hopper is known

    @classmethod
    def plan(cls, tables: DialerTables, database: str, lead_ids: Sequence[int]) -> DialerRead:
        known = sql.HOPPER_LEADS.key in tables.known(database)
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
        """`; …` to append to the first round trip (empty when nothing is asked for)."""
        return f"; {sql.dialer_columns_present(self.asked)}" if self.asked else ""

    def read(
        self, tables: DialerTables, sets: list[ResultSet], hopper_rows: int | None
    ) -> DialerState:
        """The columns present and whether the hopper may hold rows of the batch's leads;
        `hopper_rows` is the membership row's span column (None without one)."""
        found: frozenset[str] = frozenset()
        if self.asked:
            found = frozenset(_text(row[0]) for row in sets[0].rows)
        present = tables.learn(self.database, found)
        # Without a span read (the hopper was just found): assume rows, run the cleanup.
        return DialerState(present, hopper_rows is None or hopper_rows > 0)


@dataclass(frozen=True)
class DialerState:
    """The dialer columns present (`table.column`), and whether the hopper has rows in the
    batch's span."""

    present: frozenset[str]
    hopper_rows: bool

    @property
    def hopper(self) -> bool:
        """Whether the database has a hopper (whose rows the batch must keep in step)."""
        return sql.HOPPER_LEADS.key in self.present


def delete_steps(
    columns: tuple[str, ...],
    lead_ids: Sequence[int],
    state: DialerState | None,
) -> tuple[Step, Step]:
    """The delete phase's first statements: the READY hopper rows, then the leads.

    Without the guard (or with no dialer column present): no hopper step, the plain delete.
    Under it: the READY hopper rows of the leads about to go (skipped when the hopper has no
    row in the batch's span), then the leads, each statement checking the dialer tables
    itself; with the hopper empty there, the cheap form first (it deletes nothing if any
    dialer table has a row in the span: finish_delete then runs the guarded form). A crash
    between the hopper cleanup and the delete leaves leads without READY hopper rows, never a
    hopper row without its lead.

    Both wait at most TABLE_LOCK_WAIT_S for a table lock. With batches side by side (range
    locks, or replicas whose lock settings differ) another batch's delete may hold the hopper
    while it waits for a row this batch's insert read (the next lead past this batch's last):
    a deadlock neither engine sees, which this batch ends by giving up (1205, rolled back, run
    again).
    """
    count = len(lead_ids)
    if state is None or not state.present:
        return Step("hopper"), Step("delete", sql.delete_archived(columns, count), lead_ids)
    present, hopper = state.present, Step("hopper")
    if state.hopper and state.hopper_rows:
        statement = sql.delete_ready_hopper_rows(columns, count, present)
        args = sql.guard_args(lead_ids, present, skip=sql.HOPPER_LEADS.key)
        hopper = Step("hopper", sql.waiting_at_most(TABLE_LOCK_WAIT_S, statement), args)
    if state.hopper_rows:  # the dialer has rows near these leads: the guarded form at once
        statement = sql.delete_archived_guarded(columns, count, present)
        args = sql.guard_args(lead_ids, present)
    else:
        statement = sql.delete_archived_if_dialer_idle(columns, count, present)
        args = sql.guard_args(lead_ids, present, spans=1)
    return hopper, Step("delete", sql.waiting_at_most(TABLE_LOCK_WAIT_S, statement), args)


async def finish_delete(
    session: Session,
    columns: tuple[str, ...],
    lead_ids: Sequence[int],
    state: DialerState | None,
    deleted: int,
) -> tuple[int, int]:
    """Complete the delete phase after delete_steps ran (`deleted` by its delete): (leads
    deleted, leads kept because the dialer uses them).

    When the cheap form deleted nothing, the dialer has rows near these leads (or none is
    deletable): the guarded form runs. Then the leads kept in use are counted. Both wait at
    most TABLE_LOCK_WAIT_S for a table lock. A dialer table gone meanwhile:
    DialerTablesChanged (the batch reruns).
    """
    if state is None or not state.present:
        return deleted, 0
    count, present = len(lead_ids), state.present
    with dialer_tables_may_go():
        if not deleted and not state.hopper_rows:
            statement = sql.delete_archived_guarded(columns, count, present)
            statement = sql.waiting_at_most(TABLE_LOCK_WAIT_S, statement)
            with phase("delete"):
                deleted = await session.execute(statement, sql.guard_args(lead_ids, present))
        if deleted == count:
            return deleted, 0
        statement = sql.waiting_at_most(
            TABLE_LOCK_WAIT_S, sql.count_in_use(columns, count, present)
        )
        with phase("delete"):
            rows = await session.fetch_all(statement, lead_ids)
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


def hopper_sweep(
    state: DialerState | None, lead_ids: Sequence[int], deleted: int
) -> Statement | None:
    """The hopper's sweep to run right after the batch's COMMIT (sql.sweep_hopper), when the
    batch deleted leads from a database with a hopper; None otherwise.

    The guarded delete keeps every lead with a hopper row when it runs; a row written after
    it (the hopper's own INSERT on MEMORY or MyISAM dialer tables does not wait for the
    COMMIT) would name a lead that is gone. The sweep removes it in the COMMIT's round trip.
    """
    if state is None or not state.hopper or not deleted:
        return None
    return sql.sweep_hopper(len(lead_ids)), tuple(lead_ids)
