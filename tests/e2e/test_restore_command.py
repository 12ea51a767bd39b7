"""`lead-archive restore`, and the nightly `archive --from-settings`, as operators run them:
the console script in its own process against the server in the test's process, both engines.
"""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

from tests.e2e.support_commands import OTHER_LIST, archive_command, archived_at_least
from tests.support import ARCHIVE, LEADS, TestDb, exact_rows, wait_until
from tests.support_shim import MONDAY_MORNING, NIGHT
from tests.support_stack import Stack

COUNT = 5_000


async def seed(tdb: TestDb) -> list[int]:
    ids = await tdb.seed_many(COUNT)
    await tdb.seed_many(len(OTHER_LIST), first_id=OTHER_LIST[0], list_id=2002)
    return ids


async def restored_at_least(tdb: TestDb, count: int) -> None:
    """Until another process has restored `count` leads (within two minutes)."""

    async def enough() -> bool:
        return await tdb.count(LEADS) >= count

    await wait_until(enough, 120, f"{count} leads back in vicidial_list")


async def test_a_list_archived_by_the_command_comes_back_byte_for_byte(
    served: Stack,
) -> None:
    tdb = served.tdb
    await seed(tdb)
    before = await exact_rows(tdb, LEADS)
    archived = await archive_command(served, "--list-id", "1001")
    assert archived.returncode == 0, archived.stderr

    served.clock.now = MONDAY_MORNING  # office hours do not apply to a restore
    dry = await archive_command(served, "--list-id", "1001", "--dry-run", command="restore")
    assert dry.returncode == 0, dry.stderr
    assert dry.summary == {
        "selected": COUNT,
        "not in vicidial_list (insert, delete)": COUNT,
        "in vicidial_list, identical (delete)": 0,
        "in vicidial_list, data differs (kept in both)": 0,
        "already restored, not in the archive": 0,
        "not found": 0,
    }
    assert f"A real run would restore {COUNT} leads" in dry.stderr

    real = await archive_command(served, "--list-id", "1001", command="restore")
    assert real.returncode == 0, real.stderr
    assert real.summary == {
        "selected": COUNT,
        "inserted into vicidial_list": COUNT,
        "deleted from the archive": COUNT,
        "kept: live with other data": 0,
        "already restored": 0,
        "not found": 0,
        "errors": 0,
        "left for a rerun": 0,
    }
    assert re.search(rf"restoring .* {COUNT}/{COUNT} leads", real.stderr)
    assert await exact_rows(tdb, LEADS) == before  # every column, modify_date included
    assert await tdb.count(ARCHIVE) == 0
    print(f"\n{tdb.engine}: {COUNT} leads restored by one command in {real.seconds:.1f} s")


async def test_restore_ctrl_c_then_the_same_command_finishes(served: Stack) -> None:
    tdb = served.tdb
    await seed(tdb)
    before = await exact_rows(tdb, LEADS)
    assert (await archive_command(served, "--list-id", "1001")).returncode == 0

    async def ctrl_c(process: asyncio.subprocess.Process) -> None:
        await restored_at_least(tdb, len(OTHER_LIST) + 1000)
        process.send_signal(signal.SIGINT)

    first = await archive_command(
        served, "--list-id", "1001", "--concurrency", "1", command="restore", meanwhile=ctrl_c
    )
    assert first.returncode == 130, first.stderr
    assert "Interrupted:" in first.stderr
    second = await archive_command(served, "--list-id", "1001", command="restore")
    assert second.returncode == 0, second.stderr
    summary = (first.summary, second.summary)
    assert sum(s["inserted into vicidial_list"] for s in summary) == COUNT  # none twice
    assert await exact_rows(tdb, LEADS) == before


async def test_the_nightly_run_stops_at_office_hours_and_the_next_night_finishes(
    served: Stack,
    tmp_path: Path,
) -> None:
    tdb = served.tdb
    ids = await seed(tdb)
    original = await tdb.rows(LEADS)
    config = tmp_path / "lead-archive.toml"
    config.write_text(
        'nightly_list_id = "1001"\nnightly_called_before_days = 30\nnightly_sleep_s = 0.01\n'
    )
    settings = {"target": served.grpc_target, "config": str(config)}

    async def office_opens(process: asyncio.subprocess.Process) -> None:
        await archived_at_least(tdb, 1000)
        served.clock.now = MONDAY_MORNING

    first = await archive_command(
        served, "--from-settings", "--quiet", meanwhile=office_opens, **settings
    )
    assert first.returncode == 3, first.stderr
    assert "Office hours began: stopped between batches" in first.stderr
    assert first.summary["left for a rerun"] == COUNT - first.summary["deleted"]
    assert "archiving" not in first.stderr  # --quiet: no progress bar

    served.clock.now = NIGHT
    second = await archive_command(served, "--from-settings", "--quiet", **settings)
    assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
    assert await tdb.rows(ARCHIVE) == {i: original[i] for i in ids}
    assert await tdb.rows(LEADS) == {i: original[i] for i in OTHER_LIST}


async def test_from_settings_refuses_a_selection_on_the_command_line(
    served: Stack,
    tmp_path: Path,
) -> None:
    config = tmp_path / "lead-archive.toml"
    config.write_text('nightly_list_id = "1001"\n')
    done = await archive_command(
        served, "--from-settings", "--all", target=served.grpc_target, config=str(config)
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "lead-archive: --from-settings takes the selection from the settings: leave out --all"
    )
