"""The benchmark's quick mode runs end to end against the real server (not a timing test)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.bench.support_bench import run_bench


def test_quick_bench_prints_a_table_and_the_last_line_per_engine(tmp_path: Path) -> None:
    result = run_bench(
        "bench",
        "--leads=2000",
        "--batches=3",
        "--batch-size=100",
        "--bulk-leads=1000",
        "--bulk-rounds=2",
        "--requests=24",
        "--validation-samples=3",
        "--no-pt-archiver",
        "--guard-rounds=3",
        f"--results={tmp_path}",
    )
    lines = result.stdout.strip().splitlines()
    for engine, line in zip(("MyISAM", "InnoDB"), lines[-2:], strict=True):
        assert re.fullmatch(
            r"floor_ms=[\d.]+ grpc_ratio=[\d.]+ rest_ratio=[\d.]+ leads_s=\d+ "
            r"floor_leads_s=\d+ bulk_ratio=[\d.]+ pt_archiver_leads_s=n/a "
            rf"validation_ms=[\d.]+ rss_mb=\d+ peak_rss_mb=\d+ engine={engine}",
            line,
        ), line
    assert "gRPC, 1 channel, sync stub, sequential" in result.stdout
    assert "lead-archive archive --list-id, whole process" in result.stdout
    for engine in ("MyISAM", "InnoDB"):
        assert re.search(
            rf"^guard_cost_ms=-?[\d.]+ guard_cost_min_ms=-?[\d.]+ "
            rf"guard_near_cost_ms=-?[\d.]+ delete_on_ms=[\d.]+ "
            rf"delete_off_ms=[\d.]+ batch_cost_ms=-?[\d.]+ .* batch=100 rounds=3 "
            rf"statement_rounds=15 engine={engine}$",
            result.stdout,
            re.MULTILINE,
        ), result.stdout
    assert len(list(tmp_path.glob("*.json"))) == 2
