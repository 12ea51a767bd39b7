"""`python -m bench.costs`: where a gRPC batch's time goes, item by item, next to the floor's.

On a fresh 100,000-lead table it runs `lead-archive serve` with its metrics port open, then
rounds of one floor batch (each statement timed) and one gRPC batch (the synchronous stub),
and reads the server's own histograms before and after: request time and the archive's
phases. What no phase covers (the key lookup; the audit row, which rides with the COMMIT) is
timed by probes that run the server's own statements on a plain connection. Optionally
(`--py-spy`) it samples the server with py-spy meanwhile and lists the functions that take its
CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from lead_archive_server.access.keys import hash_key
from lead_archive_server.core import sql
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database

from bench import seed
from bench.floor import open_floor
from bench.plan import Plan
from bench.service import free_port, grpc_client, serving

DEFAULT_SERVER = os.environ.get("LEAD_ARCHIVE_TEST_DATABASE_URL", "mysql://root@127.0.0.1:3306")
_SAMPLE = re.compile(r'^(\w+)_(sum|count)\{(?:method|phase)="(\w+)"\} ([\d.e+-]+)$', re.M)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.costs", description=__doc__)
    parser.add_argument("--engine", choices=["MyISAM", "InnoDB"], default="InnoDB")
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--py-spy", type=Path, default=None, help="write py-spy's raw samples")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    return parser.parse_args(argv)


def scrape(port: int) -> Samples:
    """{(metric, sum|count, label): value} of the request and phase histograms."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {(m, kind, label): float(v) for m, kind, label, v in _SAMPLE.findall(text)}


Samples = dict[tuple[str, str, str], float]


def mean_ms(before: Samples, after: Samples, metric: str, label: str) -> float:
    """Mean milliseconds per observation between two scrapes."""
    count = after.get((metric, "count", label), 0) - before.get((metric, "count", label), 0)
    total = after.get((metric, "sum", label), 0) - before.get((metric, "sum", label), 0)
    return total / count * 1000 if count else 0.0


async def probes(url: DatabaseUrl, api_key: str, samples: int) -> dict[str, float]:
    """Median ms of the statements the server runs outside the archive's phases."""
    db = await Database.connect(url, pool_size=1)
    timings: dict[str, list[float]] = {"key lookup": [], "audit row (own commit)": []}
    audit_row = ("bench", "127.0.0.1", "DELETE", "probe", "PROBE", "x" * 9000, "y" * 4000)
    try:
        async with db.session() as session:
            for _ in range(samples):
                started = time.perf_counter()
                await session.fetch_all(sql.SELECT_LIVE_KEY, (hash_key(api_key),))
                timings["key lookup"].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                await session.execute(sql.INSERT_ADMIN_LOG, audit_row)
                timings["audit row (own commit)"].append((time.perf_counter() - started) * 1000)
    finally:
        await db.close()
    return {name: statistics.median(values) for name, values in timings.items()}


async def py_spy(pid: int, seconds: int, out: Path) -> asyncio.subprocess.Process | None:
    """Start sampling the server (None when py-spy is not installed)."""
    tool = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if tool is None:
        return None
    return await asyncio.create_subprocess_exec(
        tool, "record", "-p", str(pid), "-d", str(seconds), "-r", "200",
        "-f", "raw", "-o", str(out), "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def top_functions(raw: Path, limit: int = 25) -> list[tuple[str, float]]:
    """Share of samples per leaf function (self time), from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        leaf = stack.split(";")[-1]
        own[re.sub(r" \(.*/", " (", leaf)] += int(count)
        total += int(count)
    return [(name, 100 * n / total) for name, n in own.most_common(limit)] if total else []


async def main(argv: list[str]) -> int:
    args = parse(argv)
    server = DatabaseUrl.parse(args.database_url)
    try:
        plan = Plan.make(args.leads, args.batch_size, args.rounds)
    except ValueError as error:
        print(f"bench.costs: {error}", file=sys.stderr)
        return 2
    bench_db = await seed.create(server, args.engine, plan.leads)
    metrics_port = free_port()
    extra = dict(item.split("=", 1) for item in args.server_env)
    extra["LEAD_ARCHIVE_METRICS_PORT"] = str(metrics_port)
    log = Path(f"/tmp/la-costs-{os.getpid()}.log")
    floor_steps: dict[str, list[float]] = {"begin": [], "insert": [], "delete": [], "commit": []}
    client_ms: list[float] = []
    try:
        async with (
            serving(bench_db.url, extra, log) as proc,
            grpc_client(proc.grpc_port, bench_db.api_key) as grpc_c,
            open_floor(bench_db.url) as floor,
        ):
            for lead_ids in (plan.batch(i) for i in range(3)):  # warm up both paths
                await (floor.archive if lead_ids[0] == 1 else grpc_c.archive)(lead_ids)
            before = scrape(metrics_port)
            spy = await py_spy(proc.process.pid, 10 + args.rounds // 4, args.py_spy) \
                if args.py_spy else None  # fmt: skip
            for round_no in range(1, args.rounds):
                first, second = plan.batch(3 * round_no), plan.batch(3 * round_no + 1)
                for step, ms in (await floor.archive_steps(first)).items():
                    floor_steps[step].append(ms)
                client_ms.append(await grpc_c.archive(second))
            after = scrape(metrics_port)
            if spy is not None:
                await spy.wait()
        probed = await probes(bench_db.url, bench_db.api_key, 60)
    finally:
        await seed.drop(bench_db)
    print(table(args.engine, before, after, client_ms, floor_steps, probed))
    if args.py_spy and args.py_spy.exists():
        print("\nserver CPU by function (py-spy, self time, % of samples):")
        for name, share in top_functions(args.py_spy):
            print(f"  {share:5.1f}  {name}")
    return 0


def table(
    engine: str,
    before: Samples,
    after: Samples,
    client_ms: Sequence[float],
    floor: dict[str, list[float]],
    probed: dict[str, float],
) -> str:
    """The per-batch cost table: the client's time, then the server's items (all means)."""
    request = mean_ms(before, after, "lead_archive_grpc_request_duration_seconds", "ArchiveLeads")
    phase = {
        name: mean_ms(before, after, "lead_archive_phase_duration_seconds", name)
        for name in ("lock", "select", "schema", "insert", "update", "delete")
    }
    # Means throughout: the server's histograms give sums, so the client's side matches them.
    floor_ms = {step: statistics.mean(values) for step, values in floor.items()}
    client = statistics.mean(client_ms)
    # The audit row rides in the COMMIT's round trip (the rest); its probe, alone with its own
    # commit, shows what it cost when it was written apart, after the answer was ready.
    rest = request - sum(phase.values()) - probed["key lookup"]
    rows = [
        ("gRPC batch, client-observed (mean)", client),
        ("  transport: client minus the server's request time", client - request),
        ("  server request time (mean)", request),
        ("    key lookup (probe)", probed["key lookup"]),
        ("    lock + begin + membership + definitions (phase lock)", phase["lock"]),
        ("    membership parse (phase select)", phase["select"]),
        ("    column list from cache (phase schema)", phase["schema"]),
        ("    insert (phase insert)", phase["insert"]),
        ("    delete (phase delete)", phase["delete"]),
        ("    commit + audit row + release, validation, Python (the rest)", rest),
        ("      (audit row alone with its own commit: probe)", probed["audit row (own commit)"]),
        ("floor batch (mean of each step)", sum(floor_ms.values())),
        *((f"  {step}", ms) for step, ms in floor_ms.items()),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{engine}: per-batch costs over {len(client_ms)} rounds (ms)"]
    lines += [f"  {name:<{width}}  {ms:6.2f}" for name, ms in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
