"""The in-use guard, the hopper cleanup of the delete phase and the hopper's sweep after the
COMMIT (CONTRACT 6 and 9), both engines of vicidial_list, dialer tables on MEMORY (as Vicidial
installs them) and on the engine of vicidial_list. What happens mid-batch (a dialer table
dropped, a dialer row written before the COMMIT, a connection lost in the sweep) is done
through the wire proxy (tests/faults/wire.py), on the round trips the service sends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pymysql
import pytest
from lead_archive_server.core.archive import ArchiveBatch, ArchiveResult, archive_leads
from lead_archive_server.core.db import Database

from tests.faults.wire import (
    BEFORE_HOPPER,
    BEFORE_INSERT,
    COMMIT,
    WRITES,
    Moment,
    WireProxy,
    holds_installed,
    kill_held,
    run_before,
    run_held,
)
from tests.support import ARCHIVE, DIALER_ENGINES, LEADS, TestDb
from tests.support_dialer import (
    IN_USE,
    NOT_IN_USE,
    add_ready_rows,
    hopper_rows,
    orphan_calls,
    orphan_hopper_rows,
    put_in_use,
)
from tests.support_ops import ops_stack, samples


@pytest.fixture
def tdb(shaped_tdb: TestDb) -> TestDb:
    """Both engines, in the spec's table shape and in the one Vicidial's installer gives."""
    return shaped_tdb


@pytest.fixture
async def wired(tdb: TestDb) -> AsyncIterator[tuple[WireProxy, Database]]:
    """A pool through the wire proxy, and the holds it needs here."""
    async with (
        holds_installed(tdb.db, [BEFORE_INSERT, BEFORE_HOPPER]),
        WireProxy.with_pool(tdb.db) as (proxy, db),
    ):
        yield proxy, db


DIALER_TABLES = (
    "vicidial_auto_calls",
    "vicidial_live_agents",
    "vicidial_hopper",
    "vicidial_callbacks",
)


async def archive(tdb: TestDb, lead_ids: list[int], **options: object) -> ArchiveResult:
    batch = ArchiveBatch.validated(insert=True, update=True, delete=True, lead_ids=lead_ids)
    return await archive_leads(tdb.db, batch, **options)  # type: ignore[arg-type]


async def in_list(tdb: TestDb, lead_ids: list[int]) -> set[int]:
    return set(await tdb.rows(LEADS, lead_ids))


@pytest.mark.parametrize("how", sorted(IN_USE))
async def test_each_reason_alone_keeps_its_lead(tdb: TestDb, how: str) -> None:
    ids = await tdb.seed(4)
    await put_in_use(tdb, ids[1], how)

    result = await archive(tdb, ids)

    assert result == ArchiveResult(4, 4, 0, 3, kept_count=0, in_use_count=1)
    assert await in_list(tdb, ids) == {ids[1]}
    # Still archived: the insert phase ran for it, and its copy is identical.
    assert (await tdb.rows(ARCHIVE, [ids[1]]))[ids[1]] == (await tdb.rows(LEADS, [ids[1]]))[ids[1]]


@pytest.mark.parametrize("how", sorted(NOT_IN_USE))
async def test_rows_that_do_not_mean_use_keep_nothing(tdb: TestDb, how: str) -> None:
    ids = await tdb.seed(2)
    await tdb.execute(NOT_IN_USE[how], [ids[0]])
    result = await archive(tdb, ids)
    assert (result.delete_count, result.in_use_count) == (2, 0)


async def test_every_reason_together(tdb: TestDb) -> None:
    ids = await tdb.seed(len(IN_USE) + 3)
    for lead_id, how in zip(ids, sorted(IN_USE), strict=False):
        await put_in_use(tdb, lead_id, how)
    everything = ids[-1]  # one lead in use every way at once
    for how in IN_USE:
        await put_in_use(tdb, everything, how)

    result = await archive(tdb, ids)

    used = set(ids[: len(IN_USE)]) | {everything}
    assert result.in_use_count == len(used)
    assert result.delete_count == len(ids) - len(used)
    assert await in_list(tdb, ids) == used


async def test_ready_rows_go_with_their_lead_taken_rows_keep_it(tdb: TestDb) -> None:
    ids = await tdb.seed(6)
    await add_ready_rows(tdb, ids[:4])
    await add_ready_rows(tdb, [ids[0]])  # two READY rows for one lead
    await put_in_use(tdb, ids[2], "hopper INCALL")  # a READY and a taken row: stays
    await put_in_use(tdb, ids[3], "call")  # READY row, but in a call: stays

    result = await archive(tdb, ids)

    assert (result.delete_count, result.in_use_count) == (4, 2)
    assert await in_list(tdb, ids) == {ids[2], ids[3]}
    assert await hopper_rows(tdb) == sorted(
        [(ids[2], "INCALL"), (ids[2], "READY"), (ids[3], "READY")]
    )
    assert await orphan_hopper_rows(tdb) == []


async def test_a_lead_kept_for_its_data_keeps_its_ready_row(tdb: TestDb) -> None:
    ids = await tdb.seed(2)
    await tdb.copy_to_archive(ids)
    await tdb.execute(f"UPDATE {LEADS} SET status = 'SALE' WHERE lead_id = %s", [ids[0]])
    await add_ready_rows(tdb, ids)
    batch = ArchiveBatch.validated(insert=True, update=False, delete=True, lead_ids=ids)

    result = await archive_leads(tdb.db, batch)

    assert (result.delete_count, result.kept_count, result.in_use_count) == (1, 1, 0)
    assert await hopper_rows(tdb) == [(ids[0], "READY")]


async def test_differing_and_in_use_counts_as_in_use_and_differing_alone_as_kept(
    tdb: TestDb,
) -> None:
    ids = await tdb.seed(3)
    await tdb.copy_to_archive(ids)
    await tdb.execute(
        f"UPDATE {LEADS} SET status = 'SALE' WHERE lead_id IN (%s, %s)", [ids[0], ids[1]]
    )
    await put_in_use(tdb, ids[0], "agent")
    batch = ArchiveBatch.validated(insert=True, update=False, delete=True, lead_ids=ids)
    result = await archive_leads(tdb.db, batch)
    assert (result.delete_count, result.kept_count, result.in_use_count) == (1, 1, 1)


async def test_guard_off_deletes_leads_in_use_and_leaves_the_hopper_alone(tdb: TestDb) -> None:
    ids = await tdb.seed(3)
    await put_in_use(tdb, ids[0], "call")
    await add_ready_rows(tdb, [ids[1]])
    result = await archive(tdb, ids, dialer_guard=False)
    assert (result.delete_count, result.in_use_count) == (3, 0)
    assert await hopper_rows(tdb) == [(ids[1], "READY")]  # as before the guard existed


@pytest.mark.parametrize("missing", [*DIALER_TABLES, "all"])
async def test_missing_dialer_tables_are_skipped(tdb: TestDb, missing: str) -> None:
    gone = DIALER_TABLES if missing == "all" else (missing,)
    ids = await tdb.seed(len(IN_USE))
    for lead_id, how in zip(ids, sorted(IN_USE), strict=True):
        await put_in_use(tdb, lead_id, how)
    for table in gone:
        await tdb.execute(f"DROP TABLE {table}")
    kept_by = {
        "vicidial_auto_calls": {"call"},
        "vicidial_live_agents": {"agent", "agent preview", "agent switch"},
        "vicidial_hopper": {"hopper QUEUE", "hopper INCALL", "hopper DONE"},
        "vicidial_callbacks": {"callback ACTIVE", "callback LIVE", "callback TFHCCL"},
    }
    still = {h for table in DIALER_TABLES if table not in gone for h in kept_by[table]}

    result = await archive(tdb, ids)

    expected = {lead_id for lead_id, how in zip(ids, sorted(IN_USE), strict=True) if how in still}
    assert await in_list(tdb, ids) == expected
    assert result.in_use_count == len(expected)


async def test_a_dialer_table_that_appears_is_consulted_by_the_next_batch(tdb: TestDb) -> None:
    await tdb.execute("DROP TABLE vicidial_auto_calls")
    first = await tdb.seed(2)
    assert (await archive(tdb, first)).delete_count == 2
    await tdb.reset_dialer()  # the table is back
    second = await tdb.seed(2)
    await put_in_use(tdb, second[0], "call")
    assert (await archive(tdb, second)).in_use_count == 1


async def test_a_dialer_table_dropped_mid_batch_reruns_the_batch(
    tdb: TestDb, wired: tuple[WireProxy, Database]
) -> None:
    """Dropped while the batch's writes' round trip is held at the insert, after the batch
    first asked for the dialer tables, before its delete reads them."""
    proxy, db = wired
    ids = await tdb.seed(3)
    await put_in_use(tdb, ids[0], "agent")
    drop = run_held(BEFORE_INSERT, executing(tdb, "DROP TABLE IF EXISTS vicidial_auto_calls"))
    rule = proxy.on_query(WRITES, drop)

    result = await archive_leads(db, full(ids))

    assert rule.fired
    assert len(proxy.round_trips(WRITES)) == 2  # the first attempt met the missing table
    assert (result.delete_count, result.in_use_count) == (2, 1)


async def test_batch_without_delete_touches_no_dialer_table(tdb: TestDb) -> None:
    ids = await tdb.seed(2)
    await add_ready_rows(tdb, ids)
    batch = ArchiveBatch.validated(insert=True, update=True, delete=False, lead_ids=ids)
    result = await archive_leads(tdb.db, batch)
    assert (result.delete_count, result.kept_count, result.in_use_count) == (0, 0, 0)
    assert len(await hopper_rows(tdb)) == 2


async def test_in_use_reported_by_grpc_metrics_and_audit_rest_body_unchanged(
    tdb: TestDb,
) -> None:
    async with ops_stack(tdb) as stack:
        ids = await tdb.seed(3)
        await put_in_use(tdb, ids[0], "call")
        reply = await stack.archive_call(ids[:2])
        assert (reply.delete_count, reply.kept_count, reply.in_use_count) == (1, 0, 1)

        await put_in_use(tdb, ids[2], "agent")
        response = await stack.post([ids[0], ids[2]])
        assert response.status_code == 200
        assert response.json() == {
            "message": "lead_ids batch was successfully processed",
            "select_count": 2,
            "insert_count": 1,
            "update_count": 0,
            "delete_count": 0,
        }
        metrics = samples((await stack.http.get("/metrics")).text)
        assert metrics[("lead_archive_leads_total", (("action", "in_use"),))] >= 3
        notes = await tdb.fetch(
            "SELECT event_notes FROM vicidial_admin_log ORDER BY admin_log_id DESC LIMIT 2"
        )
        assert [str(n[0]).split("|")[5] for n in notes] == ["in_use_count: 2", "in_use_count: 1"]


async def test_dialer_guard_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from lead_archive_server.runtime.settings import Settings

    monkeypatch.setenv("LEAD_ARCHIVE_DIALER_GUARD", "off")
    assert Settings(database_url="mysql://u@h/db").dialer_guard is False
    monkeypatch.setenv("LEAD_ARCHIVE_DIALER_GUARD", "on")
    assert Settings(database_url="mysql://u@h/db").dialer_guard is True
    monkeypatch.delenv("LEAD_ARCHIVE_DIALER_GUARD")
    assert Settings(database_url="mysql://u@h/db").dialer_guard is True


async def test_guard_off_over_the_api(tdb: TestDb) -> None:
    async with ops_stack(tdb, dialer_guard=False) as stack:
        ids = await tdb.seed(2)
        await put_in_use(tdb, ids[0], "call")
        reply = await stack.archive_call(ids)
        assert (reply.delete_count, reply.in_use_count) == (2, 0)


WRITTEN_MID_BATCH = {
    "hopper": "INSERT INTO vicidial_hopper (lead_id, campaign_id, status, list_id) "
    "VALUES (%s, 'CAMP', 'READY', 1001)",
    "call": "INSERT INTO vicidial_auto_calls (server_ip, lead_id) VALUES ('10.0.0.1', %s)",
    "callback": "INSERT INTO vicidial_callbacks (lead_id, status) VALUES (%s, 'ACTIVE')",
}


def dialer_write(
    tdb: TestDb, statement: str, lead_id: int, outcome: list[str]
) -> Callable[[], Awaitable[None]]:
    """A dialer connection writes its row for `lead_id` (waiting at most 1 s for a lock) and
    notes what happened."""

    async def write() -> None:
        async with tdb.db.session() as other:
            await other.execute("SET SESSION innodb_lock_wait_timeout = 1")
            try:
                await other.execute(statement, [lead_id])
                outcome.append("inserted")
            except pymysql.err.OperationalError as error:
                outcome.append(f"error {error.args[0]}")

    return write


def before_the_commit(proxy: WireProxy, write: Callable[[], Awaitable[None]]) -> None:
    """Run `write` after the batch's delete, before its COMMIT reaches the server."""
    proxy.on_query(COMMIT, run_before(write))


@pytest.mark.parametrize("row", sorted(WRITTEN_MID_BATCH))
async def test_innodb_a_lead_cannot_enter_use_until_the_batch_commits(
    tdb: TestDb, wired: tuple[WireProxy, Database], row: str
) -> None:
    """With every dialer table on InnoDB the guard's reads are locking reads: a dialer row
    for a lead of the batch waits for its COMMIT."""
    if tdb.engine != "InnoDB":
        pytest.skip("MyISAM locks whole tables for one statement; nothing spans statements")
    await tdb.use_dialer_engine("list")
    proxy, db = wired
    ids = await tdb.seed(3)
    outcome: list[str] = []
    before_the_commit(proxy, dialer_write(tdb, WRITTEN_MID_BATCH[row], ids[1], outcome))
    await archive_leads(db, full(ids))
    assert outcome == ["error 1205"]  # lock wait timeout: it waited for the batch's COMMIT


@pytest.mark.parametrize("dialer", DIALER_ENGINES)
async def test_a_hopper_row_written_before_the_commit_is_swept(
    tdb: TestDb, wired: tuple[WireProxy, Database], dialer: str
) -> None:
    """The hopper's way: it read the lead before the batch deleted it and inserts its READY
    row after the delete, before the COMMIT. On MEMORY (or MyISAM) nothing makes it wait; the
    sweep in the COMMIT's round trip takes the row. (InnoDB dialer tables make it wait.)"""
    proxy, db = wired
    await tdb.use_dialer_engine(dialer)
    ids = await tdb.seed(3)
    outcome: list[str] = []
    before_the_commit(proxy, dialer_write(tdb, WRITTEN_MID_BATCH["hopper"], ids[1], outcome))

    result = await archive_leads(db, full(ids))

    waits = tdb.engine == "InnoDB" and dialer == "list"
    assert outcome == (["error 1205"] if waits else ["inserted"])
    assert result.delete_count == 3
    assert await orphan_hopper_rows(tdb) == []


async def test_a_memory_callback_table_is_not_needed_for_callbacks_to_wait(
    tdb: TestDb, wired: tuple[WireProxy, Database]
) -> None:
    """vicidial_callbacks stays on vicidial_list's engine in Vicidial: on InnoDB a callback
    written mid-batch waits for the COMMIT even beside MEMORY hopper and calls."""
    if tdb.engine != "InnoDB":
        pytest.skip("MyISAM locks whole tables for one statement; nothing spans statements")
    proxy, db = wired
    ids = await tdb.seed(3)
    outcome: list[str] = []
    before_the_commit(proxy, dialer_write(tdb, WRITTEN_MID_BATCH["callback"], ids[1], outcome))
    await archive_leads(db, full(ids))
    assert outcome == ["error 1205"]


@pytest.mark.parametrize("dialer", DIALER_ENGINES)
@pytest.mark.parametrize(
    "how", ["agent preview", "agent switch", "callback TFHCCL", "hopper QUEUE"]
)
async def test_new_reasons_on_both_dialer_engines(tdb: TestDb, dialer: str, how: str) -> None:
    await tdb.use_dialer_engine(dialer)
    ids = await tdb.seed(3)
    await add_ready_rows(tdb, ids)
    await put_in_use(tdb, ids[1], how)

    result = await archive(tdb, ids)

    assert (result.delete_count, result.in_use_count) == (2, 1)
    assert await in_list(tdb, ids) == {ids[1]}
    assert await orphan_hopper_rows(tdb) == []
    assert await orphan_calls(tdb) == []


@pytest.mark.parametrize("column", ["preview_lead_id", "external_lead_id"])
async def test_an_older_vicidial_without_the_column_is_still_guarded(
    tdb: TestDb, column: str
) -> None:
    """Vicidial versions before preview dialing (or the agent API) lack these columns: the
    guard reads the ones there are, and a column added later is read from the next batch."""
    await tdb.execute(f"ALTER TABLE vicidial_live_agents DROP COLUMN {column}")
    try:
        ids = await tdb.seed(2)
        await put_in_use(tdb, ids[0], "agent")
        assert (await archive(tdb, ids)).in_use_count == 1
    finally:
        await tdb.execute(
            f"ALTER TABLE vicidial_live_agents ADD COLUMN {column} INT(9) UNSIGNED DEFAULT '0'"
        )
    ids = await tdb.seed(2)
    await put_in_use(
        tdb, ids[0], "agent preview" if column == "preview_lead_id" else "agent switch"
    )
    assert (await archive(tdb, ids)).in_use_count == 1


async def test_a_column_dropped_mid_batch_reruns_the_batch(
    tdb: TestDb, wired: tuple[WireProxy, Database]
) -> None:
    """Dropped as test_a_dialer_table_dropped_mid_batch_reruns_the_batch drops a table."""
    proxy, db = wired
    ids = await tdb.seed(3)
    await put_in_use(tdb, ids[0], "agent")
    drop = executing(tdb, "ALTER TABLE vicidial_live_agents DROP COLUMN external_lead_id")
    rule = proxy.on_query(WRITES, run_held(BEFORE_INSERT, drop))
    try:
        result = await archive_leads(db, full(ids))
    finally:
        await tdb.execute(
            "ALTER TABLE vicidial_live_agents ADD COLUMN external_lead_id INT(9) UNSIGNED "
            "DEFAULT '0'"
        )
    assert rule.fired
    assert len(proxy.round_trips(WRITES)) == 2  # the first attempt met the missing column
    assert (result.delete_count, result.in_use_count) == (2, 1)


async def test_a_dialer_row_near_the_batch_does_not_keep_leads_it_does_not_name(
    tdb: TestDb,
) -> None:
    # The cheap form deletes nothing when a call is in the batch's span; the guarded form
    # then deletes every lead that is not itself in use.
    ids = await tdb.seed(3)
    await put_in_use(tdb, ids[1], "call")
    result = await archive(tdb, [ids[0], ids[2]])
    assert (result.delete_count, result.kept_count, result.in_use_count) == (2, 0, 0)
    assert await in_list(tdb, ids) == {ids[1]}


# A hopper row the sweep cannot delete: a trigger refuses the delete of a DNC row.
REFUSE_DNC_DELETE = (
    "CREATE TRIGGER hopper_keep_dnc BEFORE DELETE ON vicidial_hopper FOR EACH ROW "
    "IF OLD.status = 'DNC' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'kept'; END IF"
)
DNC_ROW = (
    "INSERT INTO vicidial_hopper (lead_id, campaign_id, status, list_id) "
    "VALUES (%s, 'CAMP', 'DNC', 1001)"
)


async def test_a_sweep_that_fails_never_fails_the_committed_batch(
    tdb: TestDb, wired: tuple[WireProxy, Database]
) -> None:
    proxy, db = wired
    ids = await tdb.seed(3)
    await tdb.execute(REFUSE_DNC_DELETE)
    try:
        before_the_commit(proxy, dialer_write(tdb, DNC_ROW, ids[1], []))
        result = await archive_leads(db, full(ids))
        assert result.delete_count == 3  # committed, and answered as such
        assert await in_list(tdb, ids) == set()
        # The lock was released: the next batch runs at once.
        more = await tdb.seed(2)
        assert (await archive(tdb, more)).delete_count == 2
    finally:
        await tdb.execute("DROP TRIGGER IF EXISTS hopper_keep_dnc")


async def test_a_connection_lost_during_the_sweep_leaves_the_batch_committed(
    tdb: TestDb, wired: tuple[WireProxy, Database]
) -> None:
    """A hopper row written before the COMMIT; the sweep, in the COMMIT's round trip, is held
    at its delete and the connection killed there."""
    proxy, db = wired
    ids = await tdb.seed(3)

    async def kill_during_sweep(moment: Moment) -> None:
        await tdb.execute(DNC_ROW, [ids[1]])
        await kill_held(BEFORE_HOPPER)(moment)

    rule = proxy.on_query(COMMIT, kill_during_sweep)

    result = await archive_leads(db, full(ids))

    assert rule.fired
    [commit] = proxy.round_trips(COMMIT)
    assert [r.kind for r in commit.results[:1]] == ["ok"] and commit.results[0].more
    assert result.delete_count == 3  # the COMMIT went through before the connection died
    assert await in_list(tdb, ids) == set()
    more = await tdb.seed(2)  # the server released the lock with the connection
    assert (await archive(tdb, more)).delete_count == 2


def full(lead_ids: list[int]) -> ArchiveBatch:
    return ArchiveBatch.validated(insert=True, update=True, delete=True, lead_ids=lead_ids)


def executing(tdb: TestDb, statement: str) -> Callable[[], Awaitable[None]]:
    """A statement for another connection to run."""

    async def run() -> None:
        await tdb.execute(statement)

    return run
