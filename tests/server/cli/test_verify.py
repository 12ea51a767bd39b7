"""`lead-archive verify`: read-only, finds planted differences and drift, fast and set-based."""

from __future__ import annotations

import asyncio

import pytest
from lead_archive_server.cli.commands import app
from lead_archive_server.cli.verify import verify
from lead_archive_server.core.archive import ArchiveBatch, archive_leads
from typer.testing import CliRunner

from tests.support import ARCHIVE, LEADS, TRAPS, TestDb, lead_row

runner = CliRunner()


@pytest.fixture
def tdb(shaped_tdb: TestDb) -> TestDb:
    """Both engines, in the spec's table shape and in the one Vicidial's installer gives."""
    return shaped_tdb


async def test_clean_tables_report_clean(tdb: TestDb) -> None:
    ids = await tdb.seed(6)
    await archive_leads(
        tdb.db, ArchiveBatch.validated(insert=True, update=True, delete=True, lead_ids=ids[:4])
    )
    report = await verify(tdb.db)
    assert report.clean
    assert (report.leads, report.archived, report.in_both, report.differing) == (2, 4, 0, 0)


async def test_archived_but_not_deleted_is_noted_not_a_failure(tdb: TestDb) -> None:
    ids = await tdb.seed(3)
    await tdb.copy_to_archive(ids)
    report = await verify(tdb.db)
    assert report.clean and report.identical_in_both == 3


@pytest.mark.parametrize(("column", "in_list", "in_archive"), TRAPS)
async def test_same_comparison_as_the_safe_delete(
    tdb: TestDb, column: str, in_list, in_archive
) -> None:
    """Every difference the delete refuses to ignore, verify reports; and only those."""
    tdb.skip_unless_it_holds(in_list, in_archive)
    (lead_id,) = await tdb.insert_leads([lead_row(**{column: in_list})])
    (same,) = await tdb.seed(1)
    await tdb.copy_to_archive([lead_id, same])
    await tdb.execute(
        f"UPDATE {ARCHIVE} SET `{column}` = %s, modify_date = modify_date WHERE lead_id = %s",
        [in_archive, lead_id],
    )
    before = await tdb.snapshot()
    report = await verify(tdb.db)
    assert (report.differing, report.first_differing) == (1, (lead_id,))
    assert await tdb.snapshot() == before  # read-only
    batch = ArchiveBatch.validated(
        insert=False, update=False, delete=True, lead_ids=[lead_id, same]
    )
    assert (await archive_leads(tdb.db, batch)).delete_count == 1  # `same` only
    assert lead_id in await tdb.rows(LEADS)


async def test_listing_is_capped_but_the_count_is_not(tdb: TestDb) -> None:
    ids = await tdb.seed_many(120)
    await tdb.copy_to_archive(ids)
    await tdb.execute(f"UPDATE {ARCHIVE} SET city = 'Elsewhere', modify_date = modify_date")
    report = await verify(tdb.db, limit=50)
    assert report.differing == 120
    assert report.first_differing == tuple(sorted(ids)[:50])


async def test_schema_drift_is_listed_in_full(tdb: TestDb) -> None:
    await tdb.seed(2)
    await tdb.execute(f"ALTER TABLE {LEADS} ADD COLUMN extra_notes VARCHAR(20)")
    await tdb.execute(f"ALTER TABLE {ARCHIVE} MODIFY first_name VARCHAR(10), ADD COLUMN legacy INT")
    report = await verify(tdb.db)
    assert not report.clean
    charset = tdb.charset
    assert report.drift == (
        f"column first_name is varchar(30) {charset} in vicidial_list "
        f"but varchar(10) {charset} in vicidial_list_archive",
        "column extra_notes of vicidial_list is missing from vicidial_list_archive",
        "column legacy of vicidial_list_archive is not in vicidial_list",
    )


async def test_missing_archive_is_drift(tdb: TestDb) -> None:
    await tdb.execute(f"DROP TABLE {ARCHIVE}")
    report = await verify(tdb.db)
    assert report.drift == (
        "table vicidial_list_archive does not exist; run 'lead-archive db init'",
    )


async def test_20k_rows_in_a_few_seconds(tdb: TestDb) -> None:
    ids = await tdb.seed_many(20_000)
    await tdb.copy_to_archive(ids)
    await tdb.execute(
        f"UPDATE {ARCHIVE} SET status = 'X', modify_date = modify_date WHERE lead_id = %s",
        [ids[-1]],
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    report = await verify(tdb.db)
    took = loop.time() - started
    print(f"\nverify on {tdb.engine}, 20,000 leads in both tables: {took:.2f} s")
    assert (report.in_both, report.differing, report.first_differing) == (20_000, 1, (ids[-1],))
    assert took < 10


# --- The command ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tdb: TestDb) -> TestDb:
    monkeypatch.delenv("LEAD_ARCHIVE_CONFIG", raising=False)
    monkeypatch.setenv("LEAD_ARCHIVE_DATABASE_URL", tdb.db.url.url())
    return tdb


@pytest.fixture
async def planted(cli_env: TestDb) -> list[int]:
    """60 archived-not-deleted leads, 55 of them with a case-only difference in the archive."""
    ids = await cli_env.seed_many(60)
    await cli_env.copy_to_archive(ids)
    await cli_env.execute(
        f"UPDATE {ARCHIVE} SET last_name = 'SMITH', modify_date = modify_date WHERE lead_id <= %s",
        [ids[54]],
    )
    return ids


def test_command_exits_0_when_clean(cli_env: TestDb) -> None:
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 0, result.output
    assert "OK: archive and vicidial_list agree." in result.output


def test_command_lists_a_planted_difference_and_exits_1(planted: list[int]) -> None:
    result = runner.invoke(app, ["verify"], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "55 lead(s) in both tables with different data" in result.output
    assert str(planted[49]) in result.output and str(planted[50]) not in result.output
    assert "and 5 more (first 50 shown)" in result.output
    assert "5 lead(s) are archived exactly but still in vicidial_list" in result.output
    assert "NOT CLEAN." in result.output


@pytest.fixture
async def drifted(cli_env: TestDb) -> TestDb:
    await cli_env.execute(f"ALTER TABLE {LEADS} ADD COLUMN extra_notes VARCHAR(20)")
    return cli_env


def test_command_names_drift_and_exits_1(drifted: TestDb) -> None:
    result = runner.invoke(app, ["verify"], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "column extra_notes of vicidial_list is missing from vicidial_list_archive" in (
        result.output
    )


def test_command_that_cannot_check_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ARCHIVE_DATABASE_URL", "mysql://root@127.0.0.1:1/asterisk")
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 2
    assert "cannot connect" in result.output and "Traceback" not in result.output


# --- When modify_date does not move (Vicidial's own shape on MariaDB 10.10+) -----------------

DIALER_CALLS = (
    f"UPDATE {LEADS} SET status = 'NA', called_count = called_count + 1, "
    "last_local_call_time = NOW() WHERE lead_id = %s"
)


async def archived_not_deleted(tdb: TestDb, count: int) -> list[int]:
    ids = await tdb.seed(count)
    batch = ArchiveBatch.validated(insert=True, update=True, delete=False, lead_ids=ids)
    await archive_leads(tdb.db, batch)
    return ids


async def test_a_lead_the_dialer_called_after_a_no_delete_run_is_explained(tdb: TestDb) -> None:
    ids = await archived_not_deleted(tdb, 2)
    await tdb.execute(DIALER_CALLS, [ids[0]])
    report = await verify(tdb.db)
    assert report.modify_date_moves is (tdb.shape == "utf8mb4")
    assert (report.differing, report.changed_since, report.clean) == (1, 1, True)


async def test_a_broken_copy_is_unexplained_in_both_shapes(tdb: TestDb) -> None:
    ids = await archived_not_deleted(tdb, 2)
    await tdb.execute(
        f"UPDATE {ARCHIVE} SET city = 'Broken', modify_date = modify_date WHERE lead_id = %s",
        [ids[1]],
    )
    await tdb.execute(DIALER_CALLS, [ids[0]])  # and one the dialer called
    report = await verify(tdb.db)
    assert (report.differing, report.changed_since, report.unexplained) == (2, 1, 1)
    assert report.first_differing[0] == ids[1]  # the unexplained one first
    assert not report.clean


def test_the_command_says_what_it_cannot_tell_when_modify_date_does_not_move(
    cli_env: TestDb,
) -> None:
    ids = asyncio.run(_edit_without_a_call(cli_env))
    result = runner.invoke(app, ["verify"], terminal_width=300)
    if cli_env.shape == "utf8mb4":  # modify_date moved: the edit is explained
        assert result.exit_code == 0, result.output
        assert "Note: vicidial_list.modify_date does not change" not in result.output
    else:  # an edit without a call cannot be told from a broken copy: said plainly
        assert result.exit_code == 1, result.output
        assert "Note: vicidial_list.modify_date does not change on UPDATE here" in result.output
        assert "a lead changed without a call (an agent's or an admin's edit)" in result.output
        assert str(ids[0]) in result.output


async def _edit_without_a_call(tdb: TestDb) -> list[int]:
    # A fresh pool: the test's own loop (CliRunner runs the command in another one).
    from lead_archive_server.core.db import Database

    db = await Database.connect(tdb.db.url, pool_size=1)
    try:
        shadow = TestDb(db, tdb.engine, tdb.shape)
        ids = await archived_not_deleted(shadow, 2)
        await shadow.execute(f"UPDATE {LEADS} SET status = 'SALE' WHERE lead_id = %s", [ids[0]])
        return ids
    finally:
        await db.close()
