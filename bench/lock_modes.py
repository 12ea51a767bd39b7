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
import statistics
import warnings
from contextlib import AsyncExitStack

from bench.floor import open_floor
from bench.interleave import (
    Archive,
    add_arguments,
    fresh_database,
    interleaved,
    ratio,
    run_main,
)
from bench.service import grpc_client, rest_client, serving

MODES = ("database", "ranges")
PATHS = ("floor", *(f"{api}_{mode}" for mode in MODES for api in ("grpc", "rest")))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.lock_modes", description=__doc__)
    add_arguments(parser, leads=110_000, paths=len(PATHS))
    return parser.parse_args(argv)


async def per_batch(args: argparse.Namespace) -> dict[str, list[float]]:
    """Milliseconds per batch on each path, from the counted rounds."""
    logs = args.results / "lock_modes"
    logs.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        bench_db = await stack.enter_async_context(fresh_database(args, "lock_modes", len(PATHS)))
        floor = await stack.enter_async_context(open_floor(bench_db.url))
        paths: dict[str, Archive] = {"floor": floor.archive}
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
        return await interleaved(paths, args.rounds, args.batch_size)


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
    run_main(main)
