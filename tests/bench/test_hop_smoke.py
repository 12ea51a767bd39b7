"""bench.hop's quick mode runs end to end: the server, the shim in its own process, the floor
and the hop alone (not a timing test)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.bench.support_bench import run_bench


def test_quick_hop_bench_prints_every_path_and_the_last_line(tmp_path: Path) -> None:
    result = run_bench(
        "bench.hop",
        "--leads=2000",
        "--rounds=2",
        "--batch-size=100",
        "--hop-blocks=2",
        f"--results={tmp_path}",
    )
    for path in ("floor", "grpc", "rest_in_process", "rest_own_process"):
        assert re.search(rf"^{path} +[\d.]+ +[\d.]+x$", result.stdout, re.MULTILINE), path
    assert re.search(
        r"^hop: grpc_ratio=[\d.]+ rest_ratio=[\d.]+ rest_own_process_ratio=[\d.]+ "
        r"hop_tcp_ms=[\d.]+ hop_unix_ms=[\d.]+$",
        result.stdout.strip().splitlines()[-1],
    ), result.stdout
    # Two counted rounds after the warm-up's two: one REST batch each through the own shim.
    assert (tmp_path / "hop" / "rest.log").read_text().count("POST /vicidial/leads/archive") == 4
