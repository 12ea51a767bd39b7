"""What the dialer guard (CONTRACT 6) costs a batch: guard on against guard off, interleaved.

A fresh database per engine with a dialer at work around it: hopper, calls, agents' screens
and callbacks for leads that are not in the batches (the usual night: old leads are
archived, the dialer works on others), so the guard reads the dialer tables and keeps nothing.
Each round archives two fresh batches through the archive core, one with the guard and one
without, in alternating order, so drift in the machine's load falls on both alike. Reported:
the median of each, and the median of the per-round differences (the guard's cost).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from lead_archive_server.core.archive import ArchiveBatch, archive_leads
from lead_archive_server.core.db import Database
from lead_archive_server.runtime.settings import DatabaseUrl

from bench import seed

# A busy call centre's dialer tables, in rows (leads beyond the archived ones).
HOPPER_ROWS = 2000
CALLS = 200
AGENTS = 300
CALLBACKS = 20000


@dataclass
class GuardResult:
    """Milliseconds per batch, guard on and off, by round."""

    engine: str
    batch_size: int
    on_ms: list[float] = field(default_factory=list)
    off_ms: list[float] = field(default_factory=list)

    @property
    def cost_ms(self) -> float:
        """The median of the per-round differences (on - off)."""
        return statistics.median(a - b for a, b in zip(self.on_ms, self.off_ms, strict=True))

    def line(self) -> str:
        return (
            f"guard_cost_ms={self.cost_ms:.3f} guard_on_ms={statistics.median(self.on_ms):.2f} "
            f"guard_off_ms={statistics.median(self.off_ms):.2f} batch={self.batch_size} "
            f"rounds={len(self.on_ms)} engine={self.engine}"
        )


async def measure(
    server: DatabaseUrl, engine: str, batch_size: int, rounds: int, *, keep: bool = False
) -> GuardResult:
    """Seed, fill the dialer tables, then time `rounds` pairs of batches."""
    timed = 2 * rounds * batch_size
    warm = timed + 1  # two untimed batches after the timed ones: both paths, once
    dialer_first = timed + 2 * batch_size + 1
    bench_db = await seed.create(server, engine, dialer_first + CALLBACKS, name_suffix="guard")
    result = GuardResult(engine, batch_size)
    db = await Database.connect(bench_db.url, pool_size=2)
    try:
        await _busy_dialer(db, first_lead=dialer_first)
        await _timed(db, warm, batch_size, True)
        await _timed(db, warm + batch_size, batch_size, False)
        for index in range(rounds):
            first = 1 + 2 * index * batch_size
            on_first = index % 2 == 0
            for guard in (on_first, not on_first):
                start = first if guard == on_first else first + batch_size
                elapsed = await _timed(db, start, batch_size, guard)
                (result.on_ms if guard else result.off_ms).append(elapsed)
    finally:
        await db.close()
        if not keep:
            await seed.drop(bench_db)
    return result


async def _timed(db: Database, first: int, size: int, guard: bool) -> float:
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
        "INSERT INTO vicidial_live_agents (user, server_ip, status, lead_id) "
        f"SELECT CONCAT('agent', seq), '10.0.0.1', 'INCALL', {first_lead} + seq * 5 "
        f"FROM seq_0_to_{AGENTS - 1}",
        "INSERT INTO vicidial_callbacks (lead_id, list_id, campaign_id, status, callback_time) "
        f"SELECT {first_lead} + seq, 1000, 'CAMP', ELT(1 + seq % 3, 'ACTIVE', 'LIVE', "
        f"'INACTIVE'), NOW() FROM seq_0_to_{CALLBACKS - 1}",
        "ANALYZE TABLE vicidial_hopper, vicidial_auto_calls, vicidial_live_agents, "
        "vicidial_callbacks",
    )
    async with db.session() as session:
        for statement in statements:
            await session.fetch_all(statement)
