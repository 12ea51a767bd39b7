"""bench.callers' quick mode runs end to end: gRPC callers and floor connections, one and
several side by side, every lead archived (not a timing test)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.bench.support_bench import run_bench


@pytest.mark.parametrize("engine", ["MyISAM", "InnoDB"])
def test_quick_callers_bench_prints_both_ratios(tmp_path: Path, engine: str) -> None:
    result = run_bench(
        "bench.callers",
        f"--engine={engine}",
        "--rounds=1",
        "--batches=4",
        "--batch-size=50",
        f"--results={tmp_path}",
    )
    assert re.fullmatch(
        rf"callers_ratio=[\d.]+ floor_callers_ratio=[\d.]+ callers=4 engine={engine}",
        result.stdout.strip().splitlines()[-1],
    ), result.stdout
    # Two rounds (one to warm up) of one and four gRPC callers, four batches each run.
    log = (tmp_path / "callers.log").read_text()
    assert log.count("ArchiveLeads OK") == 16, log[-2000:]
