"""`lead-archive archive` as an operator runs it: its own process, 20,000 leads, both engines.

The server runs in the test's process (so its clock can move into office hours mid-run); the
command is the installed console script, run as a subprocess against it.
"""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import pytest

from tests.e2e.support_commands import OTHER_LIST, archive_command, archived_at_least
from tests.support import ARCHIVE, LEADS, TestDb
from tests.support_dialer import put_in_use
from tests.support_shim import MONDAY_MORNING, NIGHT
from tests.support_stack import Stack, running_stack
from tests.support_tls import make_certs

COUNT = 20_000


async def seed(tdb: TestDb, count: int = COUNT) -> tuple[list[int], dict]:
    ids = await tdb.seed_many(count)
    await tdb.seed_many(len(OTHER_LIST), first_id=OTHER_LIST[0], list_id=2002)
    return ids, await tdb.rows(LEADS)


async def assert_final_state(tdb: TestDb, original: dict, ids: list[int]) -> None:
    """What an uninterrupted run leaves: every selected lead archived byte for byte, gone from
    vicidial_list, and every other lead untouched."""
    assert await tdb.rows(ARCHIVE) == {i: original[i] for i in ids}
    assert await tdb.rows(LEADS) == {i: original[i] for i in OTHER_LIST}


async def assert_nothing_lost(tdb: TestDb, original: dict, ids: list[int]) -> None:
    """After a stop: each lead is in exactly one table, with the data it had."""
    live, archived = await tdb.snapshot()
    assert not live.keys() & archived.keys()
    assert live | archived == original
    assert set(ids) <= live.keys() | archived.keys()


async def test_dry_run_then_real_run(served: Stack) -> None:
    tdb = served.tdb
    ids, original = await seed(tdb)
    await tdb.copy_to_archive(ids[:150])
    await tdb.execute(f"UPDATE {ARCHIVE} SET city = 'Stale' WHERE lead_id > 100")
    before = (original, await tdb.rows(ARCHIVE))

    dry = await archive_command(served, "--list-id", "1001", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.summary == {
        "selected": COUNT,
        "not archived yet (insert, delete)": COUNT - 150,
        "archived, data differs (update, delete)": 50,
        "archived, identical (delete)": 100,
        "already archived, not in vicidial_list": 0,
        "not found": 0,
    }
    assert f"A real run would archive {COUNT} leads" in dry.stderr
    assert await tdb.snapshot() == before

    real = await archive_command(served, "--list-id", "1001")
    assert real.returncode == 0, real.stderr
    assert real.summary == {
        "selected": COUNT,
        "inserted": COUNT - 150,
        "updated": 50,
        "deleted": COUNT,
        "kept because data differed": 0,
        "kept in use by the dialer": 0,
        "already archived": 0,
        "not found": 0,
        "errors": 0,
        "left for a rerun": 0,
    }
    assert re.search(rf"archiving .* {COUNT}/{COUNT} leads .* leads/s", real.stderr)
    await assert_final_state(tdb, original, ids)
    print(f"\n{tdb.engine}: {COUNT} leads archived by one command in {real.seconds:.1f} s")


async def test_office_hours_stop_the_run_and_a_rerun_finishes_it(served: Stack) -> None:
    tdb = served.tdb
    ids, original = await seed(tdb)

    async def office_opens(process: asyncio.subprocess.Process) -> None:
        await archived_at_least(tdb, 3000)
        served.clock.now = MONDAY_MORNING

    first = await archive_command(served, "--list-id", "1001", meanwhile=office_opens)
    assert first.returncode == 3, first.stderr
    assert "Office hours began: stopped between batches" in first.stderr
    done = first.summary["deleted"]
    assert 3000 <= done < COUNT
    assert first.summary["left for a rerun"] == COUNT - done
    assert first.summary["errors"] == 0
    await assert_nothing_lost(tdb, original, ids)

    served.clock.now = NIGHT
    second = await archive_command(served, "--list-id", "1001")
    assert second.returncode == 0, second.stderr
    # Nothing is copied twice: the two runs inserted and deleted each lead once.
    assert first.summary["inserted"] + second.summary["inserted"] == COUNT
    assert done + second.summary["deleted"] == COUNT
    await assert_final_state(tdb, original, ids)


async def test_ctrl_c_stops_cleanly_and_a_rerun_finishes(served: Stack) -> None:
    tdb = served.tdb
    ids, original = await seed(tdb, 5000)

    async def ctrl_c(process: asyncio.subprocess.Process) -> None:
        await archived_at_least(tdb, 1000)
        process.send_signal(signal.SIGINT)

    args = ("--list-id", "1001", "--batch-size", "250")
    first = await archive_command(served, *args, meanwhile=ctrl_c)
    assert first.returncode == 130, first.stderr
    assert "Stopping:" in first.stderr and "Interrupted:" in first.stderr
    assert "Traceback" not in first.stderr
    assert 1000 <= first.summary["deleted"] < 5000
    await assert_nothing_lost(tdb, original, ids)

    second = await archive_command(served, *args)
    assert second.returncode == 0, second.stderr
    assert first.summary["inserted"] + second.summary["inserted"] == 5000
    await assert_final_state(tdb, original, ids)


async def test_ids_from_stdin_with_no_delete(served: Stack) -> None:
    tdb = served.tdb
    ids, original = await seed(tdb, 600)
    listed = "\n".join(map(str, ids)).encode() + b"\n"
    copied = await archive_command(served, "--ids-from", "-", "--no-delete", stdin=listed)
    assert copied.returncode == 0, copied.stderr
    assert copied.summary["inserted"] == 600 and copied.summary["deleted"] == 0
    assert await tdb.rows(ARCHIVE) == {i: original[i] for i in ids}

    moved = await archive_command(served, "--ids-from", "-", stdin=listed)
    assert moved.returncode == 0, moved.stderr
    assert (moved.summary["inserted"], moved.summary["deleted"]) == (0, 600)
    await assert_final_state(tdb, original, ids)


async def test_leads_in_use_are_counted_apart_and_the_run_is_incomplete(served: Stack) -> None:
    tdb = served.tdb
    ids = await tdb.seed(30)
    for lead_id in ids[:3]:
        await put_in_use(tdb, lead_id, "call")
    listed = "\n".join(map(str, ids)).encode()

    first = await archive_command(served, "--ids-from", "-", stdin=listed)

    assert first.returncode == 1, first.stderr
    assert first.summary["deleted"] == 27
    assert first.summary["kept in use by the dialer"] == 3
    assert first.summary["kept because data differed"] == 0
    assert "3 leads stayed in vicidial_list because Vicidial's dialer" in first.stderr
    await tdb.execute("DELETE FROM vicidial_auto_calls")  # the calls ended
    rest = "\n".join(map(str, ids[:3])).encode()
    second = await archive_command(served, "--ids-from", "-", stdin=rest)
    assert second.returncode == 0, second.stderr
    assert second.summary["deleted"] == 3 and second.summary["kept in use by the dialer"] == 0


@pytest.mark.parametrize(
    ("setup", "args", "code", "message"),
    [
        ("office hours", (), 3, "api cannot be executed during office hours time condition. "),
        ("wrong key", ("--api-key", "not-the-key-0123456789"), 1, "the API refused the key"),
        ("no server", ("--target", "127.0.0.1:1", "--retry-for", "0.5"), 1, "UNAVAILABLE"),
    ],
)
async def test_refused_before_the_first_batch(
    served: Stack, setup: str, args: tuple[str, ...], code: int, message: str
) -> None:
    await served.tdb.seed_many(10)
    if setup == "office hours":
        served.clock.now = MONDAY_MORNING
    before = await served.tdb.snapshot()
    refused = await archive_command(served, "--list-id", "1001", *args)
    assert refused.returncode == code, refused.stderr
    assert message in refused.stderr
    assert "Nothing was done" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert await served.tdb.snapshot() == before


async def test_tls_port_of_this_machine_is_reached_over_tls(
    databases: dict[str, TestDb], tmp_path: Path
) -> None:
    tdb = databases["InnoDB"]  # TLS does not depend on the engine
    await tdb.reset()
    certs = make_certs(tmp_path)
    tls = {"grpc_tls_cert": str(certs.cert), "grpc_tls_key": str(certs.key)}
    async with running_stack(tdb, rest=False, **tls) as stack:
        ids, original = await seed(tdb, 600)
        port = str(stack.grpc_port)
        # The service's own settings: the command finds the port, and that it serves TLS.
        local = await archive_command(
            stack,
            "--list-id",
            "1001",
            "--batch-size",
            "300",
            grpc_port=port,
            upstream_ca=str(certs.ca),
            **tls,
        )
        assert local.returncode == 0, local.stderr
        assert local.summary["deleted"] == 600
        await assert_final_state(tdb, original, ids)

        await tdb.seed_many(10, first_id=50_000)
        target = f"127.0.0.1:{port}"
        plaintext = await archive_command(
            stack, "--list-id", "1001", "--retry-for", "0.5", target=target
        )
        assert plaintext.returncode == 1
        assert "cannot archive: UNAVAILABLE" in plaintext.stderr
        trusted = await archive_command(
            stack, "--list-id", "1001", "--ca-cert", str(certs.ca), target=target
        )
        assert trusted.returncode == 0, trusted.stderr
        assert trusted.summary["deleted"] == 10
