"""Per-batch rounds shared by bench.hop and bench.lock_modes: the command line, a fresh
database checked at the end, and batches of fresh leads on every path in a rotating order."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from lead_archive_server.core.database_url import DatabaseUrl

from bench import seed
from bench.__main__ import DEFAULT_SERVER
from bench.plan import rotated
from bench.report import RESULTS

WARM_UP_ROUNDS = 2  # not counted: connections, caches and the shim's known keys settle

Archive = Callable[[Sequence[int]], Awaitable[float]]


def add_arguments(parser: argparse.ArgumentParser, *, leads: int, paths: int) -> None:
    """The options of a per-batch bench whose rounds have one batch per path."""
    parser.add_argument("--engine", choices=["MyISAM", "InnoDB"], default="InnoDB")
    parser.add_argument("--leads", type=int, default=leads)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=40, help=f"rounds of {paths} batches (40)")
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="folder for the servers' logs (bench/results)"
    )


@asynccontextmanager
async def fresh_database(
    args: argparse.Namespace, name: str, paths: int
) -> AsyncIterator[seed.BenchDatabase]:
    """A fresh database with enough leads for every round; on leaving, check that every
    round's batches are in the archive, and drop it."""
    leads_needed = (args.rounds + WARM_UP_ROUNDS) * paths * args.batch_size
    if leads_needed > args.leads:
        raise SystemExit(f"{args.leads} leads are too few for {leads_needed} ({name})")
    server = DatabaseUrl.parse(args.database_url)
    bench_db = await seed.create(server, args.engine, args.leads, name_suffix=name)
    try:
        yield bench_db
        archived = await seed.count_rows(bench_db.url, "vicidial_list_archive")
        if archived != leads_needed:
            raise AssertionError(f"the archive holds {archived} leads, not {leads_needed}")
    finally:
        await seed.drop(bench_db)


async def interleaved(paths: dict[str, Archive], rounds: int, size: int) -> dict[str, list[float]]:
    """Rounds of one batch of fresh leads (1, 2, … in batches of `size`) per path, the order
    rotating every round; the milliseconds of each path's batches after the warm-up rounds."""
    timings: dict[str, list[float]] = {path: [] for path in paths}
    batch = 0
    for round_no in range(rounds + WARM_UP_ROUNDS):
        for path in rotated(tuple(paths), round_no):
            elapsed = await paths[path](list(range(batch * size + 1, (batch + 1) * size + 1)))
            batch += 1
            if round_no >= WARM_UP_ROUNDS:
                timings[path].append(elapsed)
    return timings


def ratio(timings: dict[str, list[float]], path: str, base: str) -> float:
    """The median of per-round ratios path / base."""
    return statistics.median(a / b for a, b in zip(timings[path], timings[base], strict=True))


def run_main(main: Callable[[list[str]], Coroutine[None, None, int]]) -> None:
    """Run a bench's main on the server's event loop (uvloop when installed, as
    LEAD_ARCHIVE_EVENT_LOOP's default) and exit with its code."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    sys.exit(asyncio.run(main(sys.argv[1:])))
