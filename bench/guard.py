"""What the dialer guard (CONTRACT 6) costs a batch: guard on against guard off, interleaved.

A fresh database per engine with a dialer at work around it, its hopper and calls on MEMORY
as Vicidial installs them: hopper, calls, agents' screens (dialled, previewed, switched to)
and callbacks (due and held back) for leads that are not in the batches (the usual night:
old leads are archived, the dialer works on others), so the guard reads the dialer tables
and keeps nothing.

Two measurements, each in rounds that alternate which side goes first, so drift in the
machine's load falls on both alike:

* statements: the server's own time (SHOW PROFILES) for what the guard adds to a batch, on
  one connection: the membership query with its hopper span column, the guarded delete's
  WHERE and the hopper's sweep after the COMMIT, against the plain membership query and the
  plain delete's WHERE (read-only locking twins of the deletes, on the same archived leads).
  The median of the per-round differences is the guard's cost; on a busy machine this is the
  steady number.
* end to end: whole batches through the archive core, guard on and off, as the service runs
  them (client-side time: includes the event loop and the machine's noise).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from lead_archive_server.core import sql
from lead_archive_server.core.archive import ArchiveBatch, archive_leads
from lead_archive_server.core.db import Database, Session
from lead_archive_server.core.schema import read_archive_schema
from lead_archive_server.runtime.settings import DatabaseUrl

from bench import seed

# A busy call centre's dialer tables, in rows (for leads beyond the archived ones).
HOPPER_ROWS = 2000
CALLS = 200
AGENTS = 300
CALLBACKS = 20000
ALL_TABLES = frozenset(sql.IN_USE_KEYS)
# The statement pairs reread the same leads, so they are cheap: many more of them.
STATEMENT_ROUNDS_PER_ROUND = 5


@dataclass
class GuardResult:
    """Milliseconds per batch by round: server statements and whole batches, on and off."""

    engine: str
    batch_size: int
    statement_on_ms: list[float] = field(default_factory=list)
    statement_off_ms: list[float] = field(default_factory=list)
    statement_near_ms: list[float] = field(default_factory=list)
    batch_on_ms: list[float] = field(default_factory=list)
    batch_off_ms: list[float] = field(default_factory=list)

    @property
    def cost_ms(self) -> float:
        """The median of the per-round differences of the server's statement time."""
        pairs = zip(self.statement_on_ms, self.statement_off_ms, strict=True)
        return statistics.median(on - off for on, off in pairs)

    @property
    def near_cost_ms(self) -> float:
        """The same for the guarded form, used when the dialer has rows near the batch."""
        pairs = zip(self.statement_near_ms, self.statement_off_ms, strict=True)
        return statistics.median(near - off for near, off in pairs)

    @property
    def floor_cost_ms(self) -> float:
        """Fastest guarded minus fastest plain: the cost with the machine's noise removed
        (noise only ever adds time; the fastest of many rounds is the least disturbed)."""
        return min(self.statement_on_ms) - min(self.statement_off_ms)

    @property
    def batch_cost_ms(self) -> float:
        """The same for whole batches (noisier)."""
        pairs = zip(self.batch_on_ms, self.batch_off_ms, strict=True)
        return statistics.median(on - off for on, off in pairs)

    def line(self) -> str:
        return (
            f"guard_cost_ms={self.cost_ms:.3f} guard_cost_min_ms={self.floor_cost_ms:.3f} "
            f"guard_near_cost_ms={self.near_cost_ms:.3f} "
            f"delete_on_ms={statistics.median(self.statement_on_ms):.3f} "
            f"delete_off_ms={statistics.median(self.statement_off_ms):.3f} "
            f"batch_cost_ms={self.batch_cost_ms:.2f} "
            f"batch_on_ms={statistics.median(self.batch_on_ms):.2f} "
            f"batch_off_ms={statistics.median(self.batch_off_ms):.2f} "
            f"batch={self.batch_size} rounds={len(self.batch_on_ms)} "
            f"statement_rounds={len(self.statement_on_ms)} engine={self.engine}"
        )


async def measure(
    server: DatabaseUrl, engine: str, batch_size: int, rounds: int, *, keep: bool = False
) -> GuardResult:
    """Seed, fill the dialer tables, then time `rounds` pairs of each kind."""
    per_kind = 2 * rounds * batch_size
    dialer_first = 2 * per_kind + 2 * batch_size + 1  # the twins read leads 1…batch_size
    bench_db = await seed.create(server, engine, dialer_first + CALLBACKS, name_suffix="guard")
    result = GuardResult(engine, batch_size)
    db = await Database.connect(bench_db.url, pool_size=2)
    try:
        await _busy_dialer(db, first_lead=dialer_first)
        warm = 2 * per_kind + 1
        await _batch(db, warm, batch_size, True)  # learn the tables, warm both paths
        await _batch(db, warm + batch_size, batch_size, False)
        async with db.session() as session:
            await session.execute("SET profiling = 1, profiling_history_size = 100")
            columns = (await read_archive_schema(session)).columns
            twins = list(range(1, batch_size + 1))  # archived copies, read again and again
            await session.execute(sql.insert_missing(columns, batch_size), twins)
            for index in range(STATEMENT_ROUNDS_PER_ROUND * rounds):
                on, near, off = await _statements(session, columns, 1, batch_size, index % 2 == 0)
                result.statement_on_ms.append(on)
                result.statement_near_ms.append(near)
                result.statement_off_ms.append(off)
        for index in range(rounds):
            first = per_kind + 1 + 2 * index * batch_size
            on_first = index % 2 == 0
            for guard in (on_first, not on_first):
                start = first if guard == on_first else first + batch_size
                elapsed = await _batch(db, start, batch_size, guard)
                (result.batch_on_ms if guard else result.batch_off_ms).append(elapsed)
    finally:
        await db.close()
        if not keep:
            await seed.drop(bench_db)
    return result


async def _statements(
    session: Session, columns: tuple[str, ...], first: int, size: int, on_first: bool
) -> tuple[float, float, float]:
    """Server ms with the guard (usual batch; batch near the dialer's leads) and without.

    Each side: the batch's membership query (the guard's with its hopper span column) and a
    read-only twin of its delete (SELECT … LOCK IN SHARE MODE: the same plan, the same
    locking reads of the dialer tables on InnoDB); rolled back, so every round reads the
    same leads.
    """
    lead_ids = list(range(first, first + size))
    same = " AND ".join(sql.identical("l", "a", c) for c in columns)
    plain = (
        f"SELECT COUNT(*) FROM {sql.LEADS} l JOIN {sql.ARCHIVE} a ON a.lead_id = l.lead_id "
        f"WHERE l.lead_id IN ({sql.placeholders(size)}) AND {same}"
    )

    def twin(delete: str) -> str:
        return (
            delete.replace(f"DELETE l FROM {sql.LEADS} l", f"SELECT COUNT(*) FROM {sql.LEADS} l", 1)
            + " LOCK IN SHARE MODE"
        )

    idle = twin(sql.delete_archived_if_dialer_idle(columns, size, ALL_TABLES))
    near = twin(sql.delete_archived_guarded(columns, size, ALL_TABLES))
    # The sweep's rows, read as its DELETE finds them (none: the leads are all there).
    sweep = sql.sweep_hopper(size).replace("DELETE h FROM", "SELECT COUNT(*) + %s FROM", 1)
    span = (min(lead_ids), max(lead_ids))
    membership = sql.select_batch_leads(size)
    runs = [
        ("span", sql.with_hopper_span(membership), (*span, *lead_ids)),
        ("idle", idle, sql.guard_args(lead_ids, ALL_TABLES, spans=1)),
        ("near", near, sql.guard_args(lead_ids, ALL_TABLES)),
        ("sweep", sweep, (size, *lead_ids)),
        ("membership", membership, tuple(lead_ids)),
        ("plain", plain + " LOCK IN SHARE MODE", tuple(lead_ids)),
    ]
    if not on_first:
        runs = runs[4:] + runs[:4]
    await session.execute("BEGIN")
    for kind, statement, args in runs:
        rows = await session.fetch_all(statement, args)
        if int(rows[0][0]) != size:
            raise AssertionError(f"guard bench: {kind} found {rows[0][0]} of {size} leads")
    await session.execute("ROLLBACK")
    # The last profiles: the six runs, then ROLLBACK.
    profiles = (await session.fetch_all("SHOW PROFILES"))[-7:-1]
    ms = {kind: float(row[1]) * 1000 for (kind, _, _), row in zip(runs, profiles, strict=True)}
    return (
        ms["span"] + ms["idle"] + ms["sweep"],
        ms["span"] + ms["near"] + ms["sweep"],
        ms["membership"] + ms["plain"],
    )


async def _batch(db: Database, first: int, size: int, guard: bool) -> float:
    lead_ids = list(range(first, first + size))
    batch = ArchiveBatch.validated(insert=True, update=True, delete=True, lead_ids=lead_ids)
    started = time.perf_counter()
    result = await archive_leads(db, batch, dialer_guard=guard)
    elapsed = (time.perf_counter() - started) * 1000
    if result.delete_count != size:
        raise AssertionError(f"guard bench: deleted {result.delete_count} of {size}")
    return elapsed


async def _busy_dialer(db: Database, first_lead: int) -> None:
    """Rows in every dialer table, for leads from first_lead on (never in a batch)."""
    statements = (
        "INSERT INTO vicidial_hopper (lead_id, campaign_id, status, list_id) "
        f"SELECT {first_lead} + seq, 'CAMP', ELT(1 + seq % 4, 'READY', 'READY', 'QUEUE', "
        f"'INCALL'), 1000 FROM seq_0_to_{HOPPER_ROWS - 1}",
        "INSERT INTO vicidial_auto_calls (server_ip, campaign_id, status, lead_id, call_time) "
        f"SELECT '10.0.0.1', 'CAMP', 'LIVE', {first_lead} + seq * 7, NOW() "
        f"FROM seq_0_to_{CALLS - 1}",
        # Agents on a call, on a preview screen (lead_id 0) or switched to another lead.
        "INSERT INTO vicidial_live_agents (user, server_ip, status, lead_id, preview_lead_id, "
        f"external_lead_id) SELECT CONCAT('agent', seq), '10.0.0.1', 'INCALL', "
        f"IF(seq % 3 = 1, 0, {first_lead} + seq * 5), IF(seq % 3 = 1, {first_lead} + seq * 5, "
        f"0), IF(seq % 3 = 2, {first_lead} + seq * 5 + 1, 0) FROM seq_0_to_{AGENTS - 1}",
        "INSERT INTO vicidial_callbacks (lead_id, list_id, campaign_id, status, callback_time) "
        f"SELECT {first_lead} + seq, 1000, 'CAMP', ELT(1 + seq % 4, 'ACTIVE', 'LIVE', "
        f"'TFHCCL', 'INACTIVE'), NOW() FROM seq_0_to_{CALLBACKS - 1}",
        "ANALYZE TABLE vicidial_hopper, vicidial_auto_calls, vicidial_live_agents, "
        "vicidial_callbacks",
    )
    async with db.session() as session:
        for statement in statements:
            await session.fetch_all(statement)
