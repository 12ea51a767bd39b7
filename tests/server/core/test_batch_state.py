"""How a batch reads its leads and columns: one row of membership, columns under the MDL.

These guard the performance work against weakening safety: both tables'
definitions are read for every batch inside its transaction, after the statement that takes
both tables' metadata locks, so no ALTER TABLE can slip between that read and the delete, and
a cached column list is used only when both definitions are exactly the cached ones.
"""

from __future__ import annotations

import random

import lead_archive_server.core.archive as archive_module
import pymysql
import pytest
from lead_archive_server.core import sql
from lead_archive_server.core.archive import ArchiveBatch, archive_leads
from lead_archive_server.core.db import Database, NoSuchTable, _bound
from lead_archive_server.core.errors import SchemaDrift, ServerError
from lead_archive_server.core.schema import ArchiveSchema, SchemaCache, definitions_key

from tests.faults.wire import WRITES, WireProxy, run_before
from tests.support import ARCHIVE, LEADS, TestDb

# Membership the plain way, one row per requested lead, to check the batch's reader against.
ONE_ROW_PER_LEAD = (
    f"SELECT l.lead_id, a.lead_id IS NOT NULL FROM {LEADS} l "
    f"LEFT JOIN {ARCHIVE} a ON a.lead_id = l.lead_id WHERE l.lead_id IN (%s)"
)


def batch(ids, insert=True, update=True, delete=True) -> ArchiveBatch:
    return ArchiveBatch.validated(insert=insert, update=update, delete=delete, lead_ids=ids)


@pytest.mark.filterwarnings("ignore:Row 3 was cut by GROUP_CONCAT")
async def test_membership_cut_short_by_group_concat_refuses_the_batch(tdb: TestDb) -> None:
    """A connection with a tiny group_concat_max_len: the batch is refused by name, never
    read wrongly, and changes nothing."""
    ids = await tdb.seed(6)
    await tdb.copy_to_archive(ids[:4])  # a list of 4 IDs is longer than 4 characters
    await tdb.execute(f"UPDATE {LEADS} SET status = 'SALE' WHERE lead_id = %s", [ids[0]])
    before = await tdb.snapshot()
    db = await Database.connect(tdb.db.url, pool_size=1)
    try:
        async with db.session() as session:
            await session.execute("SET SESSION group_concat_max_len = 4")
        for wanted in ([*ids, 999_999, -3], ids):
            with pytest.raises(ServerError) as raised:
                await archive_leads(db, batch(wanted))
            assert raised.value.message == archive_module.MEMBERSHIP_CUT_SHORT
            assert "group_concat_max_len" in raised.value.message
        async with db.session() as session:  # the lock went with the rollback
            assert await session.fetch_all(sql.RELEASE_BATCH_LOCK) == [(None,)]
    finally:
        await db.close()
    assert await tdb.snapshot() == before
    assert (await archive_leads(tdb.db, batch(ids))).delete_count == 6  # 1 MiB: whole lists


async def test_missing_table_is_named(tdb: TestDb) -> None:
    ids = await tdb.seed(1)
    await tdb.execute(f"DROP TABLE {ARCHIVE}")
    with pytest.raises(SchemaDrift) as raised:
        await archive_leads(tdb.db, batch(ids))
    assert f"table {ARCHIVE} does not exist" in raised.value.message
    assert list(await tdb.rows(LEADS)) == ids


async def test_a_missing_table_is_its_own_error(tdb: TestDb) -> None:
    async with tdb.db.session() as session:
        with pytest.raises(NoSuchTable):
            await session.fetch_all("SELECT * FROM no_such_table_here")
        assert await session.fetch_all("SELECT 1") == [(1,)]  # the connection is still fine


async def test_alter_table_waits_for_a_batch_that_read_its_columns(tdb: TestDb) -> None:
    """After the batch read its columns, an ALTER TABLE cannot run until it commits.

    This is what makes the column list safe for the rest of the batch, on MyISAM too. The
    ALTERs run as the batch's writes reach the wire proxy, before they reach the server.
    """
    ids = await tdb.seed(3)
    original = await tdb.rows(LEADS)
    outcomes: list[int] = []

    async def alter() -> None:
        async with tdb.db.session() as session:
            await session.execute("SET SESSION lock_wait_timeout = 1")
            for table in (LEADS, ARCHIVE):
                try:
                    await session.execute(f"ALTER TABLE {table} ADD COLUMN late VARCHAR(9)")
                except pymysql.err.OperationalError as error:
                    outcomes.append(error.args[0])
            await session.execute("SET SESSION lock_wait_timeout = DEFAULT")

    async with WireProxy.with_pool(tdb.db, pool_size=1) as (proxy, db):
        rule = proxy.on_query(WRITES, run_before(alter))
        result = await archive_leads(db, batch(ids))
    assert rule.fired
    assert outcomes == [1205, 1205]  # lock wait timeout: both tables were held
    assert result.delete_count == 3
    assert await tdb.rows(ARCHIVE) == original


async def test_column_added_to_both_tables_between_batches_is_archived(tdb: TestDb) -> None:
    """The next batch copies and compares the new column: no lead leaves without its value."""
    ids = await tdb.seed(4)
    assert (await archive_leads(tdb.db, batch(ids[:2]))).delete_count == 2
    for table in (LEADS, ARCHIVE):
        await tdb.execute(f"ALTER TABLE {table} ADD COLUMN late VARCHAR(9) DEFAULT 'x'")
    await tdb.execute(f"UPDATE {LEADS} SET late = 'precious' WHERE lead_id = %s", [ids[2]])
    original = await tdb.rows(LEADS)
    assert (await archive_leads(tdb.db, batch(ids[2:]))).delete_count == 2
    archived = await tdb.rows(ARCHIVE, ids[2:])
    assert archived == original
    assert archived[ids[2]][-1] == "precious"


async def test_column_added_between_batches_is_compared_on_delete(tdb: TestDb) -> None:
    """A lead whose new column differs in the archive copy stays in vicidial_list."""
    ids = await tdb.seed(3)
    assert (await archive_leads(tdb.db, batch(ids[:1]))).delete_count == 1
    await archive_leads(tdb.db, batch(ids[1:], update=False, delete=False))
    for table in (LEADS, ARCHIVE):
        await tdb.execute(f"ALTER TABLE {table} ADD COLUMN late VARCHAR(9) DEFAULT 'x'")
    await tdb.execute(f"UPDATE {LEADS} SET late = 'precious' WHERE lead_id = %s", [ids[1]])
    result = await archive_leads(tdb.db, batch(ids[1:], insert=False, update=False))
    assert (result.delete_count, result.kept_count) == (1, 1)
    assert list(await tdb.rows(LEADS)) == [ids[1]]


async def test_column_added_to_vicidial_list_only_between_batches_is_refused(
    tdb: TestDb,
) -> None:
    ids = await tdb.seed(2)
    assert (await archive_leads(tdb.db, batch(ids[:1]))).delete_count == 1
    await tdb.execute(f"ALTER TABLE {LEADS} ADD COLUMN late VARCHAR(9) DEFAULT 'x'")
    before = await tdb.snapshot()
    with pytest.raises(SchemaDrift) as raised:
        await archive_leads(tdb.db, batch(ids[1:]))
    assert "late" in raised.value.message
    assert await tdb.snapshot() == before


def test_batch_sql_is_built_once_per_column_list_and_count() -> None:
    columns = ("lead_id", "status")
    assert sql.delete_archived(columns, 3) is sql.delete_archived(columns, 3)
    assert sql.delete_archived((*columns, "late"), 3) != sql.delete_archived(columns, 3)
    assert "`late`" in sql.delete_archived((*columns, "late"), 3)


@pytest.mark.parametrize(
    ("args", "bound"),
    [
        ((1, -2, 2**63 - 1), ("IN (1,-2,9223372036854775807)", None)),
        ((), ("IN (%s,%s,%s)", None)),
        ((True, 2, 3), ("IN (%s,%s,%s)", (True, 2, 3))),  # bools go to the driver
        (("1", 2, 3), ("IN (%s,%s,%s)", ("1", 2, 3))),
    ],
)
def test_only_plain_ints_are_bound_without_the_driver(args, bound) -> None:
    assert _bound("IN (%s,%s,%s)", args) == bound


async def test_column_swapped_for_another_between_batches_is_archived(tdb: TestDb) -> None:
    """Same column count, other name: the cached list is not used."""
    ids = await tdb.seed(2)
    assert (await archive_leads(tdb.db, batch(ids[:1]))).delete_count == 1
    for table in (LEADS, ARCHIVE):
        await tdb.execute(f"ALTER TABLE {table} DROP COLUMN owner, ADD COLUMN late VARCHAR(9)")
    await tdb.execute(f"UPDATE {LEADS} SET late = 'precious'")
    original = await tdb.rows(LEADS)
    assert (await archive_leads(tdb.db, batch(ids[1:]))).delete_count == 1
    assert await tdb.rows(ARCHIVE, ids[1:]) == original


async def test_column_moved_between_batches_is_archived(tdb: TestDb) -> None:
    ids = await tdb.seed(2)
    assert (await archive_leads(tdb.db, batch(ids[:1]))).delete_count == 1
    for table in (LEADS, ARCHIVE):
        await tdb.execute(f"ALTER TABLE {table} MODIFY owner VARCHAR(20) AFTER lead_id")
    original = await tdb.rows(LEADS)
    assert (await archive_leads(tdb.db, batch(ids[1:]))).delete_count == 1
    assert await tdb.rows(ARCHIVE, ids[1:]) == original


async def test_enum_member_dropped_from_the_archive_between_batches_is_refused(
    tdb: TestDb,
) -> None:
    """The cache key is the whole definition, ENUM members included."""
    ids = await tdb.seed(1, gender="M") + await tdb.seed(1, gender="U")
    assert (await archive_leads(tdb.db, batch(ids[:1]))).delete_count == 1
    await tdb.execute(f"ALTER TABLE {ARCHIVE} MODIFY gender ENUM('M','F','X') DEFAULT 'X'")
    with pytest.raises(SchemaDrift) as raised:
        await archive_leads(tdb.db, batch(ids[1:]))
    assert "gender" in raised.value.message
    assert list(await tdb.rows(LEADS)) == ids[1:]


def test_definitions_key_ignores_only_the_auto_increment_counter() -> None:
    table = "CREATE TABLE `t` (\n  `id` int(9) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n)"
    one = definitions_key(table + " ENGINE=MyISAM AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4", "")
    two = definitions_key(table + " ENGINE=MyISAM AUTO_INCREMENT=9 DEFAULT CHARSET=utf8mb4", "")
    assert one == two
    assert "NOT NULL AUTO_INCREMENT," in one[0]
    other = definitions_key(table.replace("int(9)", "int(10)") + " ENGINE=MyISAM", "")
    assert other != definitions_key(table + " ENGINE=MyISAM", "")


async def test_column_dropped_from_the_archive_between_batches_deletes_nothing(
    tdb: TestDb,
) -> None:
    """The cached entry still lists the column; every statement naming it fails first."""
    ids = await tdb.seed(3)
    schemas = SchemaCache()
    assert (await archive_leads(tdb.db, batch(ids[:1]), schemas=schemas)).delete_count == 1
    await archive_leads(tdb.db, batch(ids[1:2], delete=False), schemas=schemas)
    await tdb.execute(f"ALTER TABLE {ARCHIVE} DROP COLUMN email")
    for lead_ids in (ids[1:2], ids[2:]):  # archived before, and new
        with pytest.raises(ServerError):
            await archive_leads(tdb.db, batch(lead_ids), schemas=schemas)
    assert sorted(await tdb.rows(LEADS)) == ids[1:]


def test_schema_cache_forgets_the_least_recently_used_entry() -> None:
    schemas = SchemaCache(size=2)
    clean = ArchiveSchema(columns=("lead_id",), tables_exist=True, drift=None)
    first, second, third = (("1", ""), ("2", ""), ("3", ""))
    schemas.put(first, clean)
    schemas.put(second, clean)
    assert schemas.get(first) is clean
    schemas.put(third, clean)
    assert schemas.get(second) is None
    assert schemas.get(first) is clean


async def test_span_and_in_list_reads_agree_with_one_row_per_lead(tdb: TestDb) -> None:
    """Dense or sparse, with holes, archived leads and IDs no lead can have."""
    ids = await tdb.seed(40)
    await tdb.copy_to_archive(ids[5:15])
    holes = [ids[3], ids[8], ids[20], ids[21]]  # two of them archived
    await tdb.execute(f"DELETE FROM {LEADS} WHERE lead_id IN (%s, %s, %s, %s)", holes)
    beyond = [ids[-1] + n for n in range(1, 30)] + [-5, 0, 2**40, 2**63 - 1]
    rng = random.Random(5)
    spans = 0
    async with tdb.db.session() as session:
        for case in range(80):
            if case % 2:  # dense: a window of IDs, some left out, some beyond the last lead
                start = rng.randrange(len(ids))
                window = [*ids, *beyond[:29]][start : start + rng.randint(1, 40)]
                wanted = [i for i in window if rng.random() < 0.8] or window[:1]
                if case % 4 == 1:  # and an ID far away, as in a request with a typo
                    wanted.append(rng.choice([-5, 0, 2**40, 2**63 - 1, ids[0] + 10_000]))
                    wanted = list(dict.fromkeys(wanted))
                rng.shuffle(wanted)
            else:
                wanted = rng.sample(ids + beyond, rng.randint(1, 35))
            membership = archive_module._Membership.of(wanted)
            found = await session.fetch_sets(
                f"{membership.sql}; {sql.SHOW_CREATE_TABLES}", membership.args
            )
            fast = archive_module._read_leads(wanted, membership, found)
            rows = await session.fetch_all(ONE_ROW_PER_LEAD % sql.placeholders(len(wanted)), wanted)
            known = {int(lead_id): bool(copied) for lead_id, copied in rows}
            assert fast.missing == [i for i in wanted if i not in known], wanted
            found_ids = set(wanted) - set(fast.missing)  # a batch with missing IDs stops there
            assert fast.archived.intersection(found_ids) == {i for i, c in known.items() if c}
            spans += membership.in_span
    assert 10 < spans < 70  # both ways were taken


async def test_lock_held_elsewhere_changes_nothing_and_leaves_that_lock_alone(
    tdb: TestDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The membership read that rode along with a GET_LOCK that gave up is thrown away."""
    ids = await tdb.seed(2)
    monkeypatch.setattr(archive_module, "BATCH_LOCK_TIMEOUT_S", 1)
    before = await tdb.snapshot()
    holder = await Database.connect(tdb.db.url, pool_size=1)
    try:
        async with holder.session() as session:
            assert await session.fetch_all(sql.ACQUIRE_BATCH_LOCK, (5,)) == [(1,)]
            with pytest.raises(ServerError) as raised:
                await archive_leads(tdb.db, batch(ids))
            assert "held the archive lock" in raised.value.message
            in_use = "SELECT IS_USED_LOCK(CONCAT('lead_archive:', DATABASE()))"
            assert await session.fetch_all(in_use) == [(session.thread_id,)]
            await session.fetch_all(sql.RELEASE_BATCH_LOCK)
    finally:
        await holder.close()
    assert await tdb.snapshot() == before
    assert (await archive_leads(tdb.db, batch(ids))).delete_count == 2


def test_densest_window_reads_the_many_by_range_and_the_few_by_list() -> None:
    dense = list(range(1000, 1500))
    membership = archive_module._Membership.of([*dense[:-1], 4_000_000_000])
    assert membership.in_span
    assert membership.args == (1000, 1498, 4_000_000_000) * 2  # source, then target
    assert "BETWEEN" in membership.sql and "IN (%s)" in membership.sql
    scattered = archive_module._Membership.of(list(range(0, 50_000, 100)))
    assert not scattered.in_span
    assert archive_module._Membership.of([7]).args == (7, 7) * 2
    # Only a span of consecutive requested IDs finds nothing but requested leads.
    assert archive_module._Membership.of(dense[::-1]).only_requested
    assert not archive_module._Membership.of(dense[:200] + dense[201:]).only_requested
    assert not membership.only_requested and scattered.only_requested
