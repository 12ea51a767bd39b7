"""Failures inside a batch, made by the database itself (triggers), on both engines."""

from __future__ import annotations

import pytest
from lead_archive_server.core import archive
from lead_archive_server.core.archive import ArchiveBatch, ArchiveResult, archive_leads
from lead_archive_server.core.errors import ServerError

from tests.support import ARCHIVE, LEADS, TestDb


def full(ids: list[int]) -> ArchiveBatch:
    return ArchiveBatch.validated(insert=True, update=True, delete=True, lead_ids=ids)


async def fail_deletes(tdb: TestDb, times: int, errno: int, sqlstate: str = "45000") -> None:
    """Make the next `times` deletes from vicidial_list fail with the given error."""
    # The counter is MyISAM so that a rollback of the batch does not undo its decrement.
    await tdb.execute("CREATE TABLE IF NOT EXISTS fail_budget (n INT) ENGINE=MyISAM")
    await tdb.execute("DELETE FROM fail_budget")
    await tdb.execute("INSERT INTO fail_budget VALUES (%s)", [times])
    await tdb.execute("DROP TRIGGER IF EXISTS fail_delete")
    await tdb.execute(
        f"""
        CREATE TRIGGER fail_delete BEFORE DELETE ON {LEADS} FOR EACH ROW
        BEGIN
          IF (SELECT n FROM fail_budget) > 0 THEN
            UPDATE fail_budget SET n = n - 1;
            SIGNAL SQLSTATE '{sqlstate}' SET MYSQL_ERRNO = {errno}, MESSAGE_TEXT = 'injected';
          END IF;
        END
        """
    )


@pytest.fixture
async def leads(tdb: TestDb):
    ids = await tdb.seed(4)
    yield ids
    await tdb.execute("DROP TRIGGER IF EXISTS fail_delete")
    await tdb.execute("DROP TABLE IF EXISTS fail_budget")


async def test_failed_delete_rolls_back_the_insert_on_innodb_and_is_safe_on_myisam(
    tdb: TestDb, leads: list[int]
) -> None:
    original = await tdb.rows(LEADS)
    await fail_deletes(tdb, times=1, errno=1644)
    with pytest.raises(ServerError) as raised:
        await archive_leads(tdb.db, full(leads))
    assert "injected" not in raised.value.message  # driver text stays in the log
    assert await tdb.rows(LEADS) == original  # nothing left vicidial_list either way
    if tdb.engine == "InnoDB":
        assert await tdb.rows(ARCHIVE) == {}  # the three phases rolled back together
    else:
        assert await tdb.rows(ARCHIVE) == original  # MyISAM keeps the copies: still safe
    result = await archive_leads(tdb.db, full(leads))  # rerunning the batch finishes the job
    assert result.delete_count == 4
    assert await tdb.rows(ARCHIVE) == original


async def test_deadlock_is_retried_transparently_on_innodb(tdb: TestDb, leads: list[int]) -> None:
    if tdb.engine != "InnoDB":
        pytest.skip("MyISAM takes table locks and never deadlocks")
    original = await tdb.rows(LEADS)
    await fail_deletes(tdb, times=2, errno=1213, sqlstate="40001")
    result = await archive_leads(tdb.db, full(leads), attempts=3)
    assert (result.insert_count, result.delete_count) == (4, 4)
    assert await tdb.rows(ARCHIVE) == original
    assert await tdb.fetch("SELECT n FROM fail_budget") == [(0,)]


async def test_retries_pause_a_jittered_doubling_time(
    tdb: TestDb, leads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two batches that deadlocked together and paused alike would meet again: each pause is
    # RETRY_PAUSE_S doubled per attempt, times a factor drawn between 0.5 and 1.5.
    if tdb.engine != "InnoDB":
        pytest.skip("MyISAM takes table locks and never deadlocks")
    drawn: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        drawn.append((low, high))
        return low

    monkeypatch.setattr(archive.random, "uniform", uniform)
    monkeypatch.setattr(archive, "RETRY_PAUSE_S", 0.001)
    await fail_deletes(tdb, times=2, errno=1213, sqlstate="40001")
    result = await archive_leads(tdb.db, full(leads), attempts=3)
    assert result.delete_count == 4
    assert drawn == [(0.5, 1.5), (0.5, 1.5)]


async def test_retries_give_up_after_the_last_attempt(tdb: TestDb, leads: list[int]) -> None:
    if tdb.engine != "InnoDB":
        pytest.skip("MyISAM takes table locks and never deadlocks")
    await fail_deletes(tdb, times=5, errno=1213, sqlstate="40001")
    with pytest.raises(ServerError, match="lock conflict"):
        await archive_leads(tdb.db, full(leads), attempts=2)
    assert await tdb.rows(ARCHIVE) == {}
    assert await tdb.count(LEADS) == 4


class EndingNote:
    """A note (core CommitNote) whose statement ends the batch's transaction and fails, once:
    what a deadlock on the audit row would do."""

    def __init__(self) -> None:
        self.errors: list[str | None] = []

    def statement(self, result: ArchiveResult) -> tuple[str, tuple[object, ...]]:
        return "CALL end_and_fail()", ()

    def written(self, error: str | None) -> None:
        self.errors.append(error)


async def test_a_note_that_ends_the_transaction_reruns_the_batch_on_innodb(
    tdb: TestDb, leads: list[int]
) -> None:
    original = await tdb.rows(LEADS)
    await tdb.execute("CREATE TABLE IF NOT EXISTS fail_budget (n INT) ENGINE=MyISAM")
    await tdb.execute("DELETE FROM fail_budget")
    await tdb.execute("INSERT INTO fail_budget VALUES (1)")
    await tdb.execute("DROP PROCEDURE IF EXISTS end_and_fail")
    await tdb.execute(
        """
        CREATE PROCEDURE end_and_fail()
        BEGIN
          IF (SELECT n FROM fail_budget) > 0 THEN
            UPDATE fail_budget SET n = n - 1;
            ROLLBACK;
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ended';
          END IF;
        END
        """
    )
    note = EndingNote()
    try:
        result = await archive_leads(tdb.db, full(leads), note=note)
    finally:
        await tdb.execute("DROP PROCEDURE IF EXISTS end_and_fail")
    assert result.delete_count == 4
    assert await tdb.rows(ARCHIVE) == original
    if tdb.engine == "InnoDB":  # the note ran before COMMIT: the batch ran again, all of it
        assert note.errors == [None]
    else:  # after the batch: the batch stands, the note's failure is told
        assert len(note.errors) == 1 and "ended" in str(note.errors[0])
    in_use = "SELECT IS_USED_LOCK(CONCAT('lead_archive:', DATABASE()))"
    assert await tdb.fetch(in_use) == [(None,)]  # the batch lock was released


class KillingNote(EndingNote):
    """A note whose statement kills the batch's own connection."""

    def statement(self, result: ArchiveResult) -> tuple[str, tuple[object, ...]]:
        return "KILL CONNECTION_ID()", ()


async def test_a_connection_lost_with_the_note_loses_only_what_did_not_commit(
    tdb: TestDb, leads: list[int]
) -> None:
    original = await tdb.rows(LEADS)
    note = KillingNote()
    if tdb.engine == "InnoDB":  # the note ran before COMMIT: the batch went with the connection
        with pytest.raises(ServerError, match="database unavailable"):
            await archive_leads(tdb.db, full(leads), note=note)
        assert note.errors == [] and await tdb.rows(ARCHIVE) == {}
        assert await tdb.rows(LEADS) == original
    else:  # after the batch's COMMIT: the batch stands, the note's failure is told
        result = await archive_leads(tdb.db, full(leads), note=note)
        assert result.delete_count == 4
        assert len(note.errors) == 1 and "killed" in str(note.errors[0])
    in_use = "SELECT IS_USED_LOCK(CONCAT('lead_archive:', DATABASE()))"
    assert await tdb.fetch(in_use) == [(None,)]
    more = await tdb.seed(2)  # the pool lends a live connection to the next batch
    assert (await archive_leads(tdb.db, full(more))).delete_count == 2
