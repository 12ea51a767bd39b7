"""Soak: 16 concurrent REST clients for at least 60 s against `lead-archive serve`, loopback
only, both engines. No call may fail, the server's RSS may not grow, and afterwards the
invariant holds for every lead. Run apart from the default suite (`-m soak`).

LEAD_ARCHIVE_SOAK_SECONDS lengthens the run (never below 60).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
from lead_archive_server.access.keys import create_key

from tests.invariant import Ledger, assert_no_lead_lost
from tests.processes import serve_environment, serving
from tests.support import TestDb
from tests.support_shim import ENDPOINT, full_request

pytestmark = pytest.mark.soak

CLIENTS = 16
SECONDS = max(60.0, float(os.environ.get("LEAD_ARCHIVE_SOAK_SECONDS", "60")))
WARM_UP_S = 10.0
BATCH = 10
# RSS after warm-up vs at the end: allocator noise is a few MiB; a leak per request is not.
MAX_GROWTH_BYTES = 32 * 1024 * 1024


@dataclass
class Soak:
    todo: deque[list[int]]
    steady: list[int]
    key: str
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    async def client(self, port: int, deadline: float) -> None:
        headers = {"Authorization": f"Key={self.key}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            while time.monotonic() < deadline:
                if self.todo:  # archive fresh leads while there are some
                    batch = self.todo.popleft()
                    body = full_request(batch)
                else:  # then keep refreshing archived copies of leads that stay
                    batch, body = [], full_request(self.steady, delete_leads=False)
                response = await http.post(ENDPOINT, json=body, headers=headers)
                self.statuses[response.status_code] += 1
                if response.status_code != 200 or (
                    batch and response.json()["delete_count"] != len(batch)
                ):
                    self.failures.append(f"{response.status_code} {response.text[:200]}")


@pytest.fixture
async def server_process(tdb: TestDb, tmp_path: Path) -> AsyncIterator[tuple[int, psutil.Process]]:
    env, _, http_port = serve_environment(tdb.db.url.url(), pool_size="16")
    async with serving(env, tmp_path / "serve.log", stop_s=60) as process:
        yield http_port, psutil.Process(process.pid)


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


async def test_16_clients_for_60_seconds(
    tdb: TestDb, server_process: tuple[int, psutil.Process]
) -> None:
    port, server = server_process
    ids = await tdb.seed_many(40_000)
    ledger = await Ledger.snapshot(tdb.db)
    steady, fresh = ids[:20], ids[20:]
    soak = Soak(
        deque(fresh[i : i + BATCH] for i in range(0, len(fresh), BATCH)),
        steady,
        await create_key(tdb.db, "6666"),
    )
    rss_start = server.memory_info().rss
    started = time.monotonic()
    clients = [asyncio.create_task(soak.client(port, started + SECONDS)) for _ in range(CLIENTS)]
    samples: list[tuple[float, int]] = []
    pending = set(clients)
    while pending:  # a sample every 5 s, and one as the clients end
        _, pending = await asyncio.wait(pending, timeout=5)
        samples.append((time.monotonic() - started, server.memory_info().rss))
    await asyncio.gather(*clients)
    took = time.monotonic() - started
    warm = next(rss for t, rss in samples if t >= WARM_UP_S)
    end = server.memory_info().rss
    requests = sum(soak.statuses.values())
    print(
        f"\nsoak {tdb.engine}: {CLIENTS} clients, {took:.0f} s, {requests} requests "
        f"({requests / took:.0f}/s), statuses {dict(soak.statuses)}, "
        f"{len(ids) - len(steady) - len(soak.todo) * BATCH} leads archived\n"
        f"server RSS: start {mib(rss_start)}, after {WARM_UP_S:.0f} s warm-up {mib(warm)}, "
        f"end {mib(end)}, max {mib(max(r for _, r in samples))}"
    )
    assert took >= 60
    assert not soak.failures, soak.failures[:5]
    assert end - warm < MAX_GROWTH_BYTES, f"RSS grew by {mib(end - warm)}"
    await assert_no_lead_lost(tdb.db, ledger)
