"""`python -m bench.lock_modes`: what range locks cost one caller's batch against the
database's lock (LEAD_ARCHIVE_BATCH_LOCKS=ranges vs database).

On one engine, a fresh database and two `lead-archive serve` processes on it, one per mode,
then rounds of five batches of fresh leads, the order rotating every round: the floor
(bench/floor.py), gRPC and REST to the server under the database's lock, gRPC and REST to the
one under range locks. The batches are not aligned to ranges: each of 500 leads touches two
ranges, so a batch under range locks takes two named locks (under the database's lock, the
database's and the same two). Medians, and medians of the per-round ratios.
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
from bench.floor import open_floor
from bench.hop import WARM_UP_ROUNDS, Archive, interleaved, ratio
from bench.report import RESULTS
from bench.service import grpc_client, rest_client, serving

MODES = ("database", "ranges")
PATHS = ("floor", *(f"{api}_{mode}" for mode in MODES for api in ("grpc", "rest")))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.lock_modes", description=__doc__)
    parser.add_argument("--engine", choices=["MyISAM", "InnoDB"], default="InnoDB")
    parser.add_argument("--leads", type=int, default=110_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=40, help="rounds of five batches (40)")
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="folder for the servers' logs (bench/results)"
    )
    return parser.parse_args(argv)


async def per_batch(args: argparse.Namespace) -> dict[str, list[float]]:
    """Milliseconds per batch on each path, from the counted rounds."""
    size, rounds = args.batch_size, args.rounds + WARM_UP_ROUNDS
    if rounds * len(PATHS) * size > args.leads:
        raise SystemExit(f"{args.leads} leads are too few for {rounds} rounds of 5 x {size}")
    server = DatabaseUrl.parse(args.database_url)
    bench_db = await seed.create(server, args.engine, args.leads, name_suffix="lock_modes")
    logs = args.results / "lock_modes"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        async with AsyncExitStack() as stack:
            paths: dict[str, Archive] = {
                "floor": (await stack.enter_async_context(open_floor(bench_db.url))).archive
            }
            for mode in MODES:
                env = {"LEAD_ARCHIVE_BATCH_LOCKS": mode}
                served = await stack.enter_async_context(
                    serving(bench_db.url, env, logs / f"serve-{mode}.log")
                )
                grpc_c = await stack.enter_async_context(
                    grpc_client(served.grpc_port, bench_db.api_key)
                )
                rest_c = await stack.enter_async_context(
                    rest_client(served.http_port, bench_db.api_key)
                )
                paths |= {f"grpc_{mode}": grpc_c.archive, f"rest_{mode}": rest_c.archive}
            timings = await interleaved(paths, rounds, size)
        archived = await seed.count_rows(bench_db.url, "vicidial_list_archive")
        if archived != rounds * len(PATHS) * size:
            raise AssertionError(f"the archive holds {archived} leads")
    finally:
        await seed.drop(bench_db)
    return timings


def report(batches: dict[str, list[float]], engine: str) -> str:
    lines = [f"{'path':<14} {'median ms':>10} {'/ floor':>8}"]
    for path in PATHS:
        median = statistics.median(batches[path])
        lines.append(f"{path:<14} {median:>10.2f} {ratio(batches, path, 'floor'):>7.2f}x")
    grpc, rest = (ratio(batches, f"{api}_ranges", f"{api}_database") for api in ("grpc", "rest"))
    lines += [
        f"range locks / the database's lock: gRPC {grpc:.3f}x, REST {rest:.3f}x",
        " ".join(f"{path}_ratio={ratio(batches, path, 'floor'):.3f}" for path in PATHS[1:])
        + f" engine={engine}",
    ]
    return "\n".join(lines)


async def main(argv: list[str]) -> int:
    args = parse(argv)
    warnings.filterwarnings("ignore", "Can't drop database")
    print(report(await per_batch(args), args.engine))
    return 0


if __name__ == "__main__":
    try:
        import uvloop  # the server's loop (LEAD_ARCHIVE_EVENT_LOOP defaults to uvloop)

        uvloop.install()
    except ImportError:
        pass
    sys.exit(asyncio.run(main(sys.argv[1:])))
