"""The table, the last line, and the raw numbers as JSON under bench/results/."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.runner import Result

RESULTS = Path(__file__).parent / "results"

# Targets (medians, both engines, same run; issue 13).
GRPC_MAX_RATIO = 1.10
REST_MAX_RATIO = 1.15
BULK_MIN_RATIO = {"InnoDB": 1.0, "MyISAM": 0.85}  # the process against the floor's loop
PT_MIN_RATIO = 3.0
MILLION_MAX_S = 40.0
VALIDATION_MAX_MS = 5.0
RSS_MAX_MB = 150.0


@dataclass(frozen=True)
class Row:
    what: str
    value: str
    detail: str
    target: str
    ok: bool | None


def machine() -> str:
    """nproc, CPU model, RAM and the MariaDB version the numbers were taken on."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {model}, {ram_gib:.0f} GiB RAM, {platform.python_version()}"


def _p90(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def _pt_detail(result: Result) -> str:
    if not result.pt:
        return result.pt_note
    walls = ", ".join(f"{p.wall_s:.1f}" for p in result.pt)
    return f"{result.plan.pt_leads} leads x {len(result.pt)}, own time; wall s {walls}"


def bulk_ratio(result: Result) -> float:
    """The process's median leads/s over the floor loop's."""
    return result.bulk_leads_per_s("process") / result.bulk_leads_per_s("floor")


def _bulk_rows(result: Result) -> list[Row]:
    plan = result.plan
    floor, process = result.bulk_leads_per_s("floor"), result.bulk_leads_per_s("process")
    limit = BULK_MIN_RATIO[result.engine]
    seconds = ", ".join(f"{run.seconds:.2f}" for run in result.bulk["process"])
    rows = [
        Row(
            "bulk floor: page + insert + delete, 1 connection",
            f"{floor:,.0f} leads/s",
            f"{plan.bulk_leads} leads x {len(result.bulk['floor'])}, median",
            "",
            None,
        ),
        Row(
            "bulk: lead-archive archive --list-id, whole process",
            f"{process:,.0f} leads/s",
            f"{process / floor:.2f}x floor; s {seconds}",
            f">= {limit}x",
            process / floor >= limit,
        ),
    ]
    pt = result.pt_leads_per_s
    rows.append(
        Row(
            "pt-archiver --limit 500 --txn-size 500 --bulk-delete",
            f"{pt:,.0f} leads/s" if pt else "n/a",
            _pt_detail(result) + (f"; process {process / pt:.1f}x" if pt else ""),
            f"process >= {PT_MIN_RATIO:.0f}x" if pt else "",
            None if pt is None else process / pt >= PT_MIN_RATIO,
        )
    )
    if result.million is not None:
        rows.append(
            Row(
                "1,000,000 leads, lead-archive archive",
                f"{result.million.seconds:.1f} s",
                f"{result.million.leads_per_s:,.0f} leads/s",
                f"< {MILLION_MAX_S:.0f} s",
                result.million.seconds < MILLION_MAX_S,
            )
        )
    return rows


def rows(result: Result) -> list[Row]:
    floor = result.median("floor")
    out = [
        Row(
            "floor (server's SQL, 1 connection)",
            f"{floor:.1f} ms",
            f"p90 {_p90(result.latency_ms['floor']):.1f}",
            "",
            None,
        )
    ]
    for path, label, limit in (
        ("grpc", "gRPC, 1 channel, sync stub, sequential", GRPC_MAX_RATIO),
        ("rest", "REST, keep-alive, sequential", REST_MAX_RATIO),
    ):
        ratio = result.median(path) / floor
        out.append(
            Row(
                label,
                f"{result.median(path):.1f} ms",
                f"p90 {_p90(result.latency_ms[path]):.1f}, {ratio:.2f}x floor",
                f"<= {limit}x",
                ratio <= limit,
            )
        )
    out += _bulk_rows(result)
    size = result.plan.batch_size
    for kind, label in (("duplicates", "duplicate IDs"), ("unknown", f"1 unknown ID of {size}")):
        times = result.validation_ms[kind]
        median = statistics.median(times)
        out.append(
            Row(
                f"validation failure, gRPC: {label}",
                f"{median:.2f} ms",
                f"p90 {_p90(times):.2f}, n={len(times)}",
                f"< {VALIDATION_MAX_MS} ms",
                median < VALIDATION_MAX_MS,
            )
        )
    out.append(
        Row(
            f"server RSS after {result.requests} requests",
            f"{result.rss_after_requests_mb:.0f} MiB",
            f"at start {result.rss_start_mb:.0f}, at end {result.rss_end_mb:.0f}, "
            f"{result.requests / result.requests_s:,.0f} req/s",
            f"< {RSS_MAX_MB:.0f} MB",
            result.rss_after_requests_mb < RSS_MAX_MB,
        )
    )
    out.append(
        Row(
            "server peak RSS",
            f"{result.rss_peak_mb:.0f} MiB",
            "VmHWM of lead-archive serve",
            "",
            None,
        )
    )
    return out


def table(result: Result, mariadb: str) -> str:
    """One table for a run."""
    load = " to ".join(f"{value:.1f}" for value in result.load)
    lines = [
        f"{result.engine}, {result.plan.leads} leads; {machine()}; MariaDB {mariadb}; "
        f"load average {load}"
    ]
    body = rows(result)
    widths = [max(len(r.what) for r in body), max(len(r.value) for r in body)]
    for r in body:
        verdict = "" if r.ok is None else ("ok" if r.ok else "MISSED")
        target = f"{r.target} {verdict}".strip()
        lines.append(
            f"  {r.what:<{widths[0]}}  {r.value:>{widths[1]}}  {r.detail:<48} {target}".rstrip()
        )
    return "\n".join(lines)


def last_line(result: Result) -> str:
    """floor_ms=… grpc_ratio=… rest_ratio=… leads_s=… floor_leads_s=… bulk_ratio=… (then more)."""
    floor = result.median("floor")
    pt = f"{result.pt_leads_per_s:.0f}" if result.pt else "n/a"
    validation = max(statistics.median(v) for v in result.validation_ms.values())
    million = f" million_s={result.million.seconds:.1f}" if result.million else ""
    return (
        f"floor_ms={floor:.1f} grpc_ratio={result.median('grpc') / floor:.3f} "
        f"rest_ratio={result.median('rest') / floor:.3f} "
        f"leads_s={result.bulk_leads_per_s('process'):.0f} "
        f"floor_leads_s={result.bulk_leads_per_s('floor'):.0f} "
        f"bulk_ratio={bulk_ratio(result):.3f} pt_archiver_leads_s={pt} "
        f"validation_ms={validation:.2f} rss_mb={result.rss_after_requests_mb:.0f} "
        f"peak_rss_mb={result.rss_peak_mb:.0f} engine={result.engine}{million}"
    )


def save(result: Result, mariadb: str, folder: Path = RESULTS) -> Path:
    """Keep the raw numbers (bench/results/ is not committed)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{result.engine.lower()}.json"
    raw = {
        "engine": result.engine,
        "machine": machine(),
        "load_average": result.load,
        "mariadb": mariadb,
        "plan": vars(result.plan),
        "latency_ms": result.latency_ms,
        "validation_ms": result.validation_ms,
        "bulk": {path: [vars(run) for run in runs] for path, runs in result.bulk.items()},
        "million": vars(result.million) if result.million else None,
        "pt_archiver": [vars(p) for p in result.pt] if result.pt else result.pt_note,
        "rss_mb": {
            "start": result.rss_start_mb,
            "after_requests": result.rss_after_requests_mb,
            "end": result.rss_end_mb,
            "peak": result.rss_peak_mb,
        },
        "last_line": last_line(result),
    }
    path.write_text(json.dumps(raw, indent=1))
    return path
