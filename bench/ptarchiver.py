"""Percona pt-archiver, the tool a DBA would otherwise reach for, on the same table."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from dataclasses import dataclass

from lead_archive_server.core.database_url import DatabaseUrl

PACKAGE = "percona-toolkit"
TIMEOUT_S = 600


@dataclass(frozen=True)
class PtResult:
    """What pt-archiver moved, in how long (wall clock, and its own work time)."""

    leads: int
    wall_s: float
    work_s: float | None

    @classmethod
    def total(cls, parts: list[PtResult]) -> PtResult:
        """Several runs as one."""
        work = [p.work_s for p in parts]
        return cls(
            leads=sum(p.leads for p in parts),
            wall_s=sum(p.wall_s for p in parts),
            work_s=None if None in work else sum(w or 0.0 for w in work),
        )

    @property
    def leads_per_s(self) -> float:
        """Leads per second over its own work time (no Perl start-up), else the wall clock."""
        return self.leads / (self.work_s or self.wall_s)


async def ensure_installed() -> str | None:
    """Install percona-toolkit with apt-get when missing; return why it cannot be, or None."""
    if shutil.which("pt-archiver"):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"pt-archiver missing; install the Debian package {PACKAGE} (as root)"
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", PACKAGE]):
        process = await asyncio.create_subprocess_exec(
            *args,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
        if process.returncode != 0 and args[1] == "install":
            return f"apt-get install {PACKAGE} failed: {err.decode(errors='replace')[-300:]}"
    return None if shutil.which("pt-archiver") else f"{PACKAGE} installed no pt-archiver"


async def run(url: DatabaseUrl, first: int, last: int) -> PtResult:
    """Archive lead_id first..last with the flags the issue names; check every lead moved."""
    dsn = f"h={url.host},P={url.port},u={url.user},D={url.database},t=vicidial_list"
    if url.password:
        dsn += f",p={url.password}"
    args = [
        "pt-archiver",
        "--source",
        dsn,
        "--dest",
        "t=vicidial_list_archive",
        "--where",
        f"lead_id BETWEEN {int(first)} AND {int(last)}",
        "--limit",
        "500",
        "--txn-size",
        "500",
        "--bulk-delete",
        "--charset",
        "utf8mb4",
        "--statistics",
        # Its default leaves the table's highest lead_id behind (AUTO_INCREMENT safety for
        # a server restart); the service and the floor take it, so pt-archiver must too.
        "--no-safe-auto-increment",
    ]
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    wall = time.perf_counter() - started
    text = out.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"pt-archiver failed: {err.decode(errors='replace')[-500:]}")
    return PtResult(_moved(text), wall, _work_time(text))


def _moved(statistics: str) -> int:
    """Rows pt-archiver deleted from the source (its INSERT and DELETE counts)."""
    match = re.search(r"^DELETE\s+(\d+)", statistics, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _work_time(statistics: str) -> float | None:
    """The sum of pt-archiver's own per-action times (its 'Action Count Time Pct' table)."""
    times = re.findall(r"^\w+\s+\d+\s+([\d.]+)\s+[\d.]+\s*$", statistics, re.MULTILINE)
    return sum(float(t) for t in times) or None
