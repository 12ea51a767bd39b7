"""`python -m bench.callers`: callers side by side on disjoint leads against one caller.

On one engine, a fresh database and the real server (`lead-archive serve`), then rounds of four
runs that each archive the same number of fresh leads, the order rotating: one gRPC caller
sending its batches one after another; N gRPC callers (4 by default), each on a channel of its
own with its own leads, sending theirs at the same time; and the same two with the floor's
transaction (bench/floor.py) on plain connections instead of the service, which is what the
database itself allows side by side on this machine. Per round, the N's throughput over the
one's; the medians over the rounds are `callers_ratio` and `floor_callers_ratio`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from lead_archive_server.core import sql
from lead_archive_server.core.database_url import DatabaseUrl

from bench import seed
from bench.__main__ import DEFAULT_SERVER
from bench.floor import open_floor
from bench.plan import rotated
from bench.report import RESULTS
from bench.service import (
    AsyncGrpcClient,
    async_grpc_client,
    expect_full_archive,
    full_request,
    serving,
)

WARM_UP_ROUNDS = 1
RUNS = (("grpc", "one"), ("grpc", "many"), ("floor", "one"), ("floor", "many"))
Archive = Callable[[Sequence[int]], Awaitable[object]]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.callers", description=__doc__)
    parser.add_argument("--engine", choices=["MyISAM", "InnoDB"], default="InnoDB")
    parser.add_argument("--callers", type=int, default=4)
    parser.add_argument("--batches", type=int, default=8, help="batches per run (8)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for `lead-archive serve`",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the log")
    args = parser.parse_args(argv)
    if args.batches % args.callers:
        parser.error("--batches must be a multiple of --callers")
    return args


@asynccontextmanager
async def clients(port: int, api_key: str, count: int) -> AsyncIterator[list[AsyncGrpcClient]]:
    """`count` callers, each on a channel of its own."""
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(async_grpc_client(port, api_key)) for _ in range(count)
        ]


def grpc_archive(caller: AsyncGrpcClient) -> Archive:
    async def archive(lead_ids: Sequence[int]) -> object:
        reply = await caller.call(full_request(lead_ids))
        counts = (reply.select_count, reply.insert_count, reply.update_count, reply.delete_count)
        expect_full_archive(counts, lead_ids, "gRPC")
        return reply

    return archive


async def _archive_all(archive: Archive, batches: Sequence[list[int]]) -> None:
    for lead_ids in batches:
        await archive(lead_ids)


async def timed_run(callers: Sequence[Archive], batches: list[list[int]]) -> float:
    """Seconds for the callers to archive the batches, each its own share, side by side."""
    shares = [batches[n :: len(callers)] for n in range(len(callers))]
    started = time.perf_counter()
    await asyncio.gather(*(_archive_all(c, s) for c, s in zip(callers, shares, strict=True)))
    return time.perf_counter() - started


@asynccontextmanager
async def floors(url: DatabaseUrl, count: int) -> AsyncIterator[list[Archive]]:
    """`count` plain connections running the floor's transaction."""
    async with AsyncExitStack() as stack:
        yield [(await stack.enter_async_context(open_floor(url))).archive for _ in range(count)]


async def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    """Per counted round and path (grpc, floor), the N callers' throughput over the one's."""
    size, rounds = args.batch_size, args.rounds + WARM_UP_ROUNDS
    leads = len(RUNS) * rounds * args.batches * size
    first = sql.LEAD_RANGE  # batches of LEAD_RANGE leads then each fill one range lock
    server = DatabaseUrl.parse(args.database_url)
    bench_db = await seed.create(server, args.engine, first + leads, name_suffix="callers")
    args.results.mkdir(parents=True, exist_ok=True)
    env = dict(pair.split("=", 1) for pair in args.server_env)
    batch_ids = iter(range(len(RUNS) * rounds * args.batches))
    ratios: dict[str, list[float]] = {"grpc": [], "floor": []}
    try:
        async with (
            serving(bench_db.url, env, args.results / "callers.log") as served,
            clients(served.grpc_port, bench_db.api_key, args.callers) as grpc_callers,
            floors(bench_db.url, args.callers) as floor_callers,
        ):
            grpc_archives = [grpc_archive(caller) for caller in grpc_callers]
            runs = {
                ("grpc", "one"): grpc_archives[:1],
                ("grpc", "many"): grpc_archives,
                ("floor", "one"): floor_callers[:1],
                ("floor", "many"): floor_callers,
            }
            for round_no in range(rounds):
                seconds: dict[tuple[str, str], float] = {}
                for run in rotated(RUNS, round_no):
                    batches = [
                        list(range(first + b * size, first + (b + 1) * size))
                        for b in (next(batch_ids) for _ in range(args.batches))
                    ]
                    seconds[run] = await timed_run(runs[run], batches)
                if round_no >= WARM_UP_ROUNDS:
                    for path in ratios:
                        ratios[path].append(seconds[(path, "one")] / seconds[(path, "many")])
        if await seed.count_rows(bench_db.url, "vicidial_list_archive") != leads:
            raise AssertionError("not every lead reached the archive")
    finally:
        await seed.drop(bench_db)
    return ratios


async def main(argv: list[str]) -> int:
    args = parse(argv)
    warnings.filterwarnings("ignore", "Can't drop database")
    ratios = await measure(args)
    for path, label in (("grpc", "gRPC callers"), ("floor", "floor connections")):
        print(
            f"{args.callers} {label} side by side / 1, {args.batches} batches of "
            f"{args.batch_size} per run: median {statistics.median(ratios[path]):.2f}x "
            f"(rounds {min(ratios[path]):.2f}-{max(ratios[path]):.2f}x)"
        )
    print(
        f"callers_ratio={statistics.median(ratios['grpc']):.3f} "
        f"floor_callers_ratio={statistics.median(ratios['floor']):.3f} "
        f"callers={args.callers} engine={args.engine}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
