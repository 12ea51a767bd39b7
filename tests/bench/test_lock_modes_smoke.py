"""bench.lock_modes' quick mode runs end to end: a server per lock mode on one database, gRPC
and REST to each, and the floor (not a timing test)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.bench.support_bench import run_bench


def test_quick_lock_modes_bench_prints_every_path_and_the_last_line(tmp_path: Path) -> None:
    result = run_bench(
        "bench.lock_modes",
        "--leads=2000",
        "--rounds=2",
        "--batch-size=100",
        f"--results={tmp_path}",
    )
    paths = ("grpc_database", "rest_database", "grpc_ranges", "rest_ranges")
    for path in ("floor", *paths):
        assert re.search(rf"^{path} +[\d.]+ +[\d.]+x$", result.stdout, re.MULTILINE), path
    ratios = " ".join(rf"{path}_ratio=[\d.]+" for path in paths)
    assert re.fullmatch(rf"{ratios} engine=InnoDB", result.stdout.strip().splitlines()[-1]), (
        result.stdout
    )
    # Two counted rounds after the warm-up's two: one gRPC and one REST batch each per mode.
    for mode in ("database", "ranges"):
        log = (tmp_path / "lock_modes" / f"serve-{mode}.log").read_text()
        assert log.count("ArchiveLeads OK") == 8, mode
