"""Running a bench module the way an engineer does, for the smoke tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import SERVER_URL

ROOT = Path(__file__).resolve().parents[2]


def run_bench(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE ARGS` from the repository root against the tests' MariaDB, with none
    of the caller's LEAD_ARCHIVE_ settings; a run that fails fails the test with its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAD_ARCHIVE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [sys.executable, "-m", module, *args, f"--database-url={SERVER_URL}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result
