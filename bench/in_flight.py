"""`python -m bench.in_flight`: how many batches `lead-archive archive` should keep in flight.

On one engine, a fresh database and the real server (`lead-archive serve`, one per
--batch-locks mode given), then rounds in which the floor's loop (bench/bulk.py) and
`lead-archive archive --concurrency N` for each mode and N move whole lists of fresh leads,
the order rotating every round; per mode and N the median over the rounds of its leads/s over
the floor's in the same round.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import warnings
from contextlib import AsyncExitStack
from pathlib import Path

from lead_archive_server.core.database_url import DatabaseUrl

from bench import seed
from bench.__main__ import DEFAULT_SERVER
from bench.bulk import BulkRun, floor_list, process_list
from bench.plan import rotated
from bench.report import RESULTS
from bench.service import serving

FLOOR = "floor"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.in_flight", description=__doc__)
    parser.add_argument("--engine", choices=["MyISAM", "InnoDB"], default="InnoDB")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument(
        "--batch-locks",
        choices=["database", "ranges"],
        nargs="+",
        default=["database"],
        help="the servers' LEAD_ARCHIVE_BATCH_LOCKS, one server each (database)",
    )
    parser.add_argument("--leads", type=int, default=100_000, help="leads per list (100000)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the log")
    return parser.parse_args(argv)


def path_name(mode: str, in_flight: int) -> str:
    return f"{mode}:{in_flight}"


async def measure(args: argparse.Namespace) -> dict[str, list[BulkRun]]:
    """Every path's runs over the rounds: the floor, and the command per mode and number in
    flight."""
    paths = (FLOOR, *(path_name(m, n) for m in args.batch_locks for n in args.in_flight))
    lists = {path: (4000 + n, args.leads) for n, path in enumerate(paths)}
    server = DatabaseUrl.parse(args.database_url)
    bench_db = await seed.create(server, args.engine, args.batch_size, name_suffix="in_flight")
    args.results.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[BulkRun]] = {path: [] for path in paths}
    try:
        async with AsyncExitStack() as stack:
            targets = {}
            for mode in args.batch_locks:
                served = await stack.enter_async_context(
                    serving(
                        bench_db.url,
                        {"LEAD_ARCHIVE_BATCH_LOCKS": mode},
                        args.results / f"in_flight-{mode}.log",
                    )
                )
                targets[mode] = f"127.0.0.1:{served.grpc_port}"
            for round_no in range(args.rounds):
                await seed.refill(bench_db.url, list(lists.values()))
                for path in rotated(paths, round_no):
                    list_id = lists[path][0]
                    if path == FLOOR:
                        run = await floor_list(bench_db.url, list_id, args.batch_size)
                    else:
                        mode, in_flight = path.split(":")
                        run = await process_list(
                            bench_db.url,
                            targets[mode],
                            bench_db.api_key,
                            list_id,
                            args.batch_size,
                            {},
                            ("--concurrency", in_flight),
                        )
                    if run.leads != args.leads:
                        raise AssertionError(f"{path}: moved {run.leads} of {args.leads}")
                    runs[path].append(run)
    finally:
        await seed.drop(bench_db)
    return runs


def report(args: argparse.Namespace, runs: dict[str, list[BulkRun]]) -> str:
    floor = runs[FLOOR]
    lines = [f"floor's loop: {statistics.median(r.leads_per_s for r in floor):,.0f} leads/s"]
    ratios = {}
    for mode in args.batch_locks:
        for n in args.in_flight:
            process = runs[path_name(mode, n)]
            ratio = statistics.median(
                p.leads_per_s / f.leads_per_s for p, f in zip(process, floor, strict=True)
            )
            ratios[f"{mode}_{n}"] = ratio
            speed = statistics.median(r.leads_per_s for r in process)
            lines.append(
                f"{mode} locks, --concurrency {n}: {speed:,.0f} leads/s, {ratio:.2f}x the floor's"
            )
    listed = " ".join(f"in_flight_{name}={ratio:.3f}" for name, ratio in ratios.items())
    lines.append(f"{listed} engine={args.engine}")
    return "\n".join(lines)


async def main(argv: list[str]) -> int:
    args = parse(argv)
    warnings.filterwarnings("ignore", "Can't drop database")
    print(report(args, await measure(args)))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
