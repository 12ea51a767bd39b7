"""One benchmark run on one engine: seed, start the server, measure, stop, drop."""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
from lead_archive_server.core.database_url import DatabaseUrl
from vicidial.leads.v1 import lead_archive_pb2 as pb

from bench import ptarchiver, seed
from bench.bulk import BulkRun, floor_list, process_list
from bench.floor import open_floor
from bench.plan import FLOOR_LIST, LATENCY_PATHS, PROCESS_LIST, Plan
from bench.service import (
    AsyncGrpcClient,
    GrpcClient,
    RestClient,
    ServerProcess,
    async_grpc_client,
    full_request,
    grpc_client,
    rest_client,
    serving,
)

UNKNOWN_BASE = 4_000_000_000  # lead_id values no seeded lead has
ProgressFn = Callable[[str], None]
T = TypeVar("T")


MILLION = 1_000_000
MILLION_LIST = 3100


@dataclass
class Options:
    """What to run; see `python -m bench --help`."""

    engine: str
    server: DatabaseUrl
    plan: Plan
    requests: int
    in_flight: int
    validation_samples: int
    pt_archiver: bool
    keep: bool
    million: bool = False
    server_log: Path = Path("server.log")
    server_env: Mapping[str, str] = field(default_factory=dict)
    archive_env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Result:
    """Everything one run measured."""

    engine: str
    plan: Plan
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    validation_ms: dict[str, list[float]] = field(default_factory=dict)
    bulk: dict[str, list[BulkRun]] = field(default_factory=dict)
    pt: list[ptarchiver.PtResult] = field(default_factory=list)
    pt_note: str = ""
    million: BulkRun | None = None
    requests: int = 0
    requests_s: float = 0.0
    rss_start_mb: float = 0.0
    rss_after_requests_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_peak_mb: float = 0.0
    load: list[float] = field(default_factory=list)  # 1-minute load average, start and end

    def median(self, path: str) -> float:
        return statistics.median(self.latency_ms[path])

    def bulk_leads_per_s(self, path: str) -> float:
        """Median leads/s of a bulk path over the rounds."""
        return statistics.median(run.leads_per_s for run in self.bulk[path])

    @property
    def pt_leads_per_s(self) -> float | None:
        return statistics.median(p.leads_per_s for p in self.pt) if self.pt else None


async def run(options: Options, progress: ProgressFn) -> Result:
    """Seed a fresh database, run every measurement against the real server, drop it."""
    plan = options.plan
    progress(f"{options.engine}: seeding {plan.leads} leads")
    bench_db = await seed.create(options.server, options.engine, plan.leads)
    result = Result(options.engine, plan, load=[os.getloadavg()[0]])
    try:
        pt_note = await ptarchiver.ensure_installed() if options.pt_archiver else "skipped"
        result.pt_note = pt_note or ""
        async with (
            serving(bench_db.url, options.server_env, options.server_log) as server,
            grpc_client(server.grpc_port, bench_db.api_key) as grpc_c,
            async_grpc_client(server.grpc_port, bench_db.api_key) as agrpc_c,
            rest_client(server.http_port, bench_db.api_key) as rest_c,
        ):
            result.rss_start_mb = server.memory_mb()[0]
            await _per_batch(options, result, server, (grpc_c, agrpc_c, rest_c), bench_db, progress)
            await _bulk(options, result, f"127.0.0.1:{server.grpc_port}", bench_db, progress)
            result.rss_end_mb, result.rss_peak_mb = server.memory_mb()
        result.load.append(os.getloadavg()[0])
    finally:
        if not options.keep:
            await seed.drop(bench_db)
    return result


async def _per_batch(
    options: Options,
    result: Result,
    server: ServerProcess,
    clients: tuple[GrpcClient, AsyncGrpcClient, RestClient],
    bench_db: seed.BenchDatabase,
    progress: ProgressFn,
) -> None:
    """Validation failures, the memory soak, then the interleaved per-batch rounds."""
    plan, (grpc_c, agrpc_c, rest_c) = options.plan, clients
    progress(f"{options.engine}: validation failures, {options.validation_samples} each")
    result.validation_ms = await _validation(grpc_c, plan, options.validation_samples)
    progress(f"{options.engine}: {options.requests} requests, {options.in_flight} in flight")
    started = time.perf_counter()
    result.requests = await _soak(agrpc_c, rest_c, plan, options.requests, options.in_flight)
    result.requests_s = time.perf_counter() - started
    result.rss_after_requests_mb = server.memory_mb()[0]
    progress(f"{options.engine}: per batch, {plan.batches} rounds of floor, gRPC and REST")
    result.latency_ms = await _latency(bench_db.url, plan, grpc_c, rest_c)
    await _check_tables(
        bench_db.url, archived=plan.latency_leads, remaining=plan.leads - plan.latency_leads
    )


async def _bulk(
    options: Options,
    result: Result,
    target: str,
    bench_db: seed.BenchDatabase,
    progress: ProgressFn,
) -> None:
    """Whole lists, the floor's loop against the process (and pt-archiver), rotating order."""
    plan, url = options.plan, bench_db.url
    pt = not result.pt_note
    lists = plan.bulk_lists(pt)
    result.bulk = {"floor": [], "process": []}
    for round_no, order in enumerate(plan.bulk_orders(), start=1):
        progress(
            f"{options.engine}: bulk round {round_no}/{plan.bulk_rounds}: "
            f"{', '.join(order)} on {plan.bulk_leads}-lead lists"
        )
        await seed.refill(url, lists)
        for path in order:
            if path == "floor":
                result.bulk["floor"].append(await floor_list(url, FLOOR_LIST, plan.batch_size))
            elif path == "process":
                moved = await process_list(
                    url,
                    target,
                    bench_db.api_key,
                    PROCESS_LIST,
                    plan.batch_size,
                    options.archive_env,
                )
                result.bulk["process"].append(moved)
            elif pt:
                result.pt.append(await ptarchiver.run(url, *plan.pt_range))
        await _check_tables(url, archived=sum(count for _, count in lists), remaining=0)
    if pt and any(p.leads != plan.pt_leads for p in result.pt):
        raise AssertionError(f"pt-archiver moved {[p.leads for p in result.pt]} leads")
    if options.million and options.engine == "InnoDB":
        progress(f"{options.engine}: {MILLION:,} leads in one list, one process run")
        await seed.refill(url, [(MILLION_LIST, MILLION)])
        result.million = await process_list(
            url, target, bench_db.api_key, MILLION_LIST, plan.batch_size, options.archive_env
        )
        await _check_tables(url, archived=MILLION, remaining=0)


async def _validation(grpc_c: GrpcClient, plan: Plan, samples: int) -> dict[str, list[float]]:
    """Failures a caller gets back at once: duplicates, and an ID that does not exist."""
    untouched = plan.untouched
    duplicates = full_request([*untouched[:-1], untouched[0]])
    unknown = full_request([*untouched[:-1], UNKNOWN_BASE])
    timings: dict[str, list[float]] = {"duplicates": [], "unknown": []}
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    for _ in range(samples):
        timings["duplicates"].append(await grpc_c.fails(duplicates, invalid))
        timings["unknown"].append(await grpc_c.fails(unknown, invalid))
    return timings


async def _soak(
    grpc_c: AsyncGrpcClient, rest_c: RestClient, plan: Plan, requests: int, in_flight: int
) -> int:
    """Many requests that leave the data as it is, over gRPC and REST, to watch memory."""
    untouched = plan.untouched
    unknown = [UNKNOWN_BASE + i for i in range(plan.batch_size)]
    read_only = pb.ArchiveLeadsRequest(
        insert_leads=False, update_leads=False, delete_leads=False, lead_ids=untouched
    )
    rest_read_only = {
        "insert_leads": False,
        "update_leads": False,
        "delete_leads": False,
        "lead_ids": untouched,
    }
    invalid = grpc.StatusCode.INVALID_ARGUMENT

    async def grpc_read_only() -> None:
        reply = await grpc_c.call(read_only)
        if (reply.select_count, reply.delete_count) != (len(untouched), 0):
            raise AssertionError(f"gRPC read-only: {reply}")

    async def rest_expect(body: object, status: int) -> None:
        response = await rest_c.post(body)
        if response.status_code != status:
            raise AssertionError(
                f"REST: {response.status_code} instead of {status}: {response.text[:300]}"
            )

    kinds: list[Callable[[], Awaitable[object]]] = [
        grpc_read_only,
        lambda: grpc_c.fails(full_request(unknown), invalid),
        lambda: grpc_c.fails(full_request([*untouched[:10], untouched[0]]), invalid),
        lambda: rest_expect(rest_read_only, 200),
        lambda: rest_expect({**rest_read_only, "lead_ids": unknown}, 400),
        lambda: rest_expect({**rest_read_only, "lead_ids": [1.5, "x"]}, 400),
    ]
    calls = itertools.islice(itertools.cycle(kinds), requests)
    await _in_flight(lambda kind: kind(), list(calls), in_flight)
    return requests


async def _latency(
    url: DatabaseUrl, plan: Plan, grpc_c: GrpcClient, rest_c: RestClient
) -> dict[str, list[float]]:
    """Floor, gRPC and REST batches interleaved, so that noise falls on all three alike."""
    timings: dict[str, list[float]] = {path: [] for path in LATENCY_PATHS}
    async with open_floor(url) as floor:
        paths = {"floor": floor.archive, "grpc": grpc_c.archive, "rest": rest_c.archive}
        for round_batches in plan.latency_rounds():
            for path, lead_ids in round_batches:
                timings[path].append(await paths[path](lead_ids))
    return timings


async def _in_flight(
    work: Callable[[T], Awaitable[object]], items: Sequence[T], in_flight: int
) -> None:
    """Run work over items with at most in_flight calls outstanding; any failure stops all."""
    queue = iter(items)

    async def worker() -> None:
        for item in queue:
            await work(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(in_flight):
            group.create_task(worker())


async def _check_tables(url: DatabaseUrl, *, archived: int, remaining: int) -> None:
    """Every lead a measurement archived is in the archive and gone from vicidial_list."""
    counts = (
        await seed.count_rows(url, "vicidial_list_archive"),
        await seed.count_rows(url, "vicidial_list"),
    )
    if counts != (archived, remaining):
        raise AssertionError(
            f"archive holds {counts[0]}, vicidial_list {counts[1]}; "
            f"expected {archived} and {remaining}"
        )
