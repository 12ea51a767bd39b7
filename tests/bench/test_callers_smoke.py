"""bench.callers' quick mode runs end to end: gRPC callers and floor connections, one and
several side by side, every lead archived (not a timing test)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import SERVER_URL

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("engine", ["MyISAM", "InnoDB"])
def test_quick_callers_bench_prints_both_ratios(tmp_path: Path, engine: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAD_ARCHIVE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.callers",
            f"--engine={engine}",
            "--rounds=1",
            "--batches=4",
            "--batch-size=50",
            f"--database-url={SERVER_URL}",
            f"--results={tmp_path}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.fullmatch(
        rf"callers_ratio=[\d.]+ floor_callers_ratio=[\d.]+ callers=4 engine={engine}",
        result.stdout.strip().splitlines()[-1],
    ), result.stdout
    # Two rounds (one to warm up) of one and four gRPC callers, four batches each run.
    log = (tmp_path / "callers.log").read_text()
    assert log.count("ArchiveLeads OK") == 16, log[-2000:]
