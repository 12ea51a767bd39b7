"""bench.in_flight's quick mode runs end to end: the floor's loop and the command at each
lock mode and number in flight move whole lists (not a timing test)."""

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
        "--batch-locks",
        "database",
        "ranges",
        f"--results={tmp_path}",
    )
    assert re.fullmatch(
        r"in_flight_database_1=[\d.]+ in_flight_database_3=[\d.]+ "
        r"in_flight_ranges_1=[\d.]+ in_flight_ranges_3=[\d.]+ engine=InnoDB",
        result.stdout.strip().splitlines()[-1],
    ), result.stdout
    # Each run moved its whole list (the bench checks it) through its mode's server, in
    # batches of at most 100: six a list, and one more where a page is cut at a range edge.
    for mode in ("database", "ranges"):
        log = (tmp_path / f"in_flight-{mode}.log").read_text()
        assert 12 <= log.count("ArchiveLeads OK") <= 16, mode
