"""bench.costs' quick mode runs end to end and prints its cost table (not a timing test): it
reads the server's own SQL and metrics, so a renamed statement or metric breaks it here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import SERVER_URL

ROOT = Path(__file__).resolve().parents[2]


def test_quick_costs_bench_prints_the_cost_table() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAD_ARCHIVE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.costs",
            "--leads=2000",
            "--rounds=3",
            "--batch-size=100",
            f"--database-url={SERVER_URL}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for row in ("gRPC batch, client-observed", "key lookup (probe)", "floor batch"):
        assert row in result.stdout, result.stdout
