"""The console script run as an operator runs it, against a server in the test's process
(its fixture, served, is in tests/e2e/conftest.py)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tests.processes import LEAD_ARCHIVE, environment
from tests.support import ARCHIVE, TestDb, wait_until
from tests.support_stack import Stack

OTHER_LIST = range(100_000, 100_300)  # list 2002: never selected


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def summary(self) -> dict[str, int]:
        """The rows of the table the command printed: name -> count."""
        found = {}
        for line in self.stdout.splitlines():
            cells = [cell.strip() for cell in re.split(r"[│|┃]", line) if cell.strip()]
            if len(cells) == 2 and cells[1].isdigit():
                found[cells[0]] = int(cells[1])
        return found


async def archive_command(
    stack: Stack,
    *args: str,
    meanwhile: Callable[[asyncio.subprocess.Process], Awaitable[None]] | None = None,
    stdin: bytes | None = None,
    command: str = "archive",
    **settings: str,
) -> Finished:
    """Run the console script; settings (LEAD_ARCHIVE_*) replace the default target."""
    values = {"target": stack.grpc_target} if not settings else {}
    env = environment(database_url=stack.tdb.db.url.url(), api_key=stack.key, **(values | settings))
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        LEAD_ARCHIVE,
        command,
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    if meanwhile is not None:
        await meanwhile(process)
    out, err = await asyncio.wait_for(process.communicate(stdin), 300)
    assert process.returncode is not None
    return Finished(process.returncode, out.decode(), err.decode(), time.monotonic() - started)


async def archived_at_least(tdb: TestDb, count: int) -> None:
    """Until another process has archived `count` leads (within two minutes)."""

    async def enough() -> bool:
        return await tdb.count(ARCHIVE) >= count

    await wait_until(enough, 120, f"{count} leads in the archive")
