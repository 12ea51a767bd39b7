"""bench.in_flight's quick mode runs end to end: the floor's loop and the command at each
number in flight move whole lists (not a timing test)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.bench.support_bench import run_bench


def test_quick_in_flight_bench_prints_a_ratio_per_number(tmp_path: Path) -> None:
    result = run_bench(
        "bench.in_flight",
        "--leads=600",
        "--rounds=1",
        "--batch-size=100",
        "--in-flight",
        "1",
        "3",
        f"--results={tmp_path}",
    )
    assert re.fullmatch(
        r"in_flight_1=[\d.]+ in_flight_3=[\d.]+ engine=InnoDB",
        result.stdout.strip().splitlines()[-1],
    ), result.stdout
    # Each run moved its whole list in batches of 100 through the server.
    assert (tmp_path / "in_flight.log").read_text().count("ArchiveLeads OK") == 12
