"""`python -m bench.hop`: what REST costs over gRPC, and whether moving the shim's hop moves it.

On one engine, a fresh database and the real server (`lead-archive serve`), then rounds of four
batches of fresh leads, the order rotating every round: the floor (bench/floor.py), gRPC, REST
through the shim inside `serve` (its hop to gRPC over loopback TCP) and REST through
`lead-archive rest`, the shim in a process of its own in front of the same gRPC port. Medians,
and medians of the per-round ratios.

Then the hop alone, the part a Unix socket would replace: one event loop (uvloop, as `serve`)
serving and calling a unary call that carries a batch's lead IDs, over loopback TCP and over a
Unix socket, in blocks of calls whose order alternates.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import grpc
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from bench.floor import open_floor
from bench.interleave import (
    WARM_UP_ROUNDS,
    Archive,
    add_arguments,
    fresh_database,
    interleaved,
    ratio,
    run_main,
)
from bench.plan import rotated
from bench.service import grpc_client, rest_client, serving, shim_serving

PATHS = ("floor", "grpc", "rest_in_process", "rest_own_process")
HOP_CALLS_PER_BLOCK = 50


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.hop", description=__doc__)
    add_arguments(parser, leads=100_000, paths=len(PATHS))
    parser.add_argument("--hop-blocks", type=int, default=40, help="blocks of 50 hop calls (40)")
    return parser.parse_args(argv)


async def per_batch(args: argparse.Namespace) -> dict[str, list[float]]:
    """Milliseconds per batch on each path, from the counted rounds."""
    logs = args.results / "hop"
    logs.mkdir(parents=True, exist_ok=True)
    async with (
        fresh_database(args, "hop", len(PATHS)) as bench_db,
        serving(bench_db.url, {}, logs / "serve.log") as served,
        shim_serving(bench_db.url, served.grpc_port, {}, logs / "rest.log") as shim_port,
        grpc_client(served.grpc_port, bench_db.api_key) as grpc_c,
        rest_client(served.http_port, bench_db.api_key) as rest_in,
        rest_client(shim_port, bench_db.api_key) as rest_own,
        open_floor(bench_db.url) as floor,
    ):
        paths: dict[str, Archive] = {
            "floor": floor.archive,
            "grpc": grpc_c.archive,
            "rest_in_process": rest_in.archive,
            "rest_own_process": rest_own.archive,
        }
        return await interleaved(paths, args.rounds, args.batch_size)


class _Answer(pb_grpc.LeadArchiveServiceServicer):
    async def ArchiveLeads(
        self, request: pb.ArchiveLeadsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ArchiveLeadsResponse:
        return pb.ArchiveLeadsResponse(select_count=len(request.lead_ids))


async def hop_alone(blocks: int, batch_size: int) -> dict[str, list[float]]:
    """Milliseconds per call over loopback TCP and over a Unix socket, one block at a time."""
    server = grpc.aio.server()
    pb_grpc.add_LeadArchiveServiceServicer_to_server(_Answer(), server)  # type: ignore[abstract]
    with tempfile.TemporaryDirectory() as folder:
        targets = {
            "tcp": f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}",
            "unix": f"unix:{Path(folder) / 'grpc.sock'}",
        }
        server.add_insecure_port(targets["unix"])
        await server.start()
        request = pb.ArchiveLeadsRequest(lead_ids=range(1_000_000, 1_000_000 + batch_size))
        channels = {hop: grpc.aio.insecure_channel(target) for hop, target in targets.items()}
        try:
            stubs = {hop: pb_grpc.LeadArchiveServiceStub(ch) for hop, ch in channels.items()}
            timings: dict[str, list[float]] = {hop: [] for hop in targets}
            for block in range(blocks + WARM_UP_ROUNDS):
                for hop in rotated(tuple(targets), block):
                    started = time.perf_counter()
                    for _ in range(HOP_CALLS_PER_BLOCK):
                        await stubs[hop].ArchiveLeads(request)
                    if block >= WARM_UP_ROUNDS:
                        per_call = (time.perf_counter() - started) * 1000 / HOP_CALLS_PER_BLOCK
                        timings[hop].append(per_call)
        finally:
            for channel in channels.values():
                await channel.close()
            await server.stop(None)
    return timings


def report(batches: dict[str, list[float]], hops: dict[str, list[float]]) -> str:
    lines = [f"{'path':<18} {'median ms':>10} {'/ floor':>8}"]
    for path in PATHS:
        median = statistics.median(batches[path])
        lines.append(f"{path:<18} {median:>10.2f} {ratio(batches, path, 'floor'):>7.2f}x")
    own = ratio(batches, "rest_own_process", "rest_in_process")
    tcp, unix = statistics.median(hops["tcp"]), statistics.median(hops["unix"])
    lines += [
        f"REST, shim in its own process / in the server's process: {own:.3f}x",
        f"the hop alone: loopback TCP {tcp:.3f} ms, Unix socket {unix:.3f} ms per call "
        f"(unix / tcp {ratio(hops, 'unix', 'tcp'):.3f}x)",
        f"hop: grpc_ratio={ratio(batches, 'grpc', 'floor'):.3f} "
        f"rest_ratio={ratio(batches, 'rest_in_process', 'floor'):.3f} "
        f"rest_own_process_ratio={ratio(batches, 'rest_own_process', 'floor'):.3f} "
        f"hop_tcp_ms={tcp:.3f} hop_unix_ms={unix:.3f}",
    ]
    return "\n".join(lines)


async def main(argv: list[str]) -> int:
    args = parse(argv)
    warnings.filterwarnings("ignore", "Can't drop database")
    batches = await per_batch(args)
    hops = await hop_alone(args.hop_blocks, args.batch_size)
    print(report(batches, hops))
    return 0


if __name__ == "__main__":
    run_main(main)
