"""--max-replica-lag against a real replica: two private MariaDB servers, one replicating the
other, and the bulk run pausing while the replica is behind.

The lag is made the way it happens on a real site, with a replication delay: the replica's
SQL thread holds back events younger than MASTER_DELAY seconds, and Seconds_Behind_Master
counts the seconds it is behind meanwhile. Stopping the SQL thread makes it NULL (replication
not running), which also pauses the run, as pt-archiver's --max-lag does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pymysql
import pytest
from lead_archive_server.bulk.archiver import Archiver, Pacing
from lead_archive_server.bulk.errors import EXIT_OK, JobError
from lead_archive_server.bulk.job import Job, open_source
from lead_archive_server.bulk.replica import ReplicaLag
from lead_archive_server.bulk.selection import Selection
from lead_archive_server.core.database_url import DatabaseUrl

from tests.private_mariadb import PrivateMariaDB, available
from tests.support import ARCHIVE, wait_until

pytestmark = pytest.mark.skipif(bool(available()), reason=f"no private MariaDB: {available()}")


def admin(url: DatabaseUrl, *statements: str) -> list[dict[str, object]]:
    """Run statements as root on a private server; the last one's rows."""
    connection = pymysql.connect(
        host=url.host, port=url.port, user="root", cursorclass=pymysql.cursors.DictCursor
    )
    rows: list[dict[str, object]] = []
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
                rows = list(cursor.fetchall())
        connection.commit()
    finally:
        connection.close()
    return rows


class Replication:
    """A primary with a binary log and a replica of it, both private to the test."""

    def __init__(self, base: Path) -> None:
        self.primary = PrivateMariaDB(
            base / "primary", ("--server-id=1", f"--log-bin={base / 'primary' / 'binlog'}")
        )
        self.replica = PrivateMariaDB(base / "replica", ("--server-id=2",))

    def start(self) -> None:
        for server in (self.primary, self.replica):
            server.install()
            server.start()
        admin(
            self.primary.url, "CREATE DATABASE IF NOT EXISTS ticks", "CREATE TABLE ticks.t (n INT)"
        )
        self.follow(delay=0)

    def follow(self, *, delay: int) -> None:
        """(Re)start replicating the primary from its current position, with a delay."""
        status = admin(self.primary.url, "SHOW MASTER STATUS")[0]
        admin(
            self.replica.url,
            "STOP SLAVE",
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={self.primary.port}, "
            f"MASTER_USER='root', MASTER_PASSWORD='', MASTER_LOG_FILE='{status['File']}', "
            f"MASTER_LOG_POS={status['Position']}, MASTER_DELAY={delay}",
            "START SLAVE",
        )

    def tick(self) -> None:
        """A write on the primary: an event for the replica to apply."""
        admin(self.primary.url, "INSERT INTO ticks.t VALUES (1)")

    def stop(self) -> None:
        for server in (self.replica, self.primary):
            if server.process is not None:
                server.stop()


@pytest.fixture(scope="module")
async def replication(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Replication]:
    pair = Replication(Path(tmp_path_factory.mktemp("replication")))
    try:
        await asyncio.to_thread(pair.start)
        yield pair
    finally:
        await asyncio.to_thread(pair.stop)


async def lag_when(replica: ReplicaLag, wanted: Callable[[float | None], bool], what: str) -> None:
    """Ask until the lag is what the test waits for (failing after 30 s)."""

    async def is_wanted() -> bool:
        return wanted(await replica.seconds_behind())

    await wait_until(is_wanted, 30, f"the replica's lag to be {what}", every=0.1)


async def test_the_real_replica_reports_its_lag(replication: Replication) -> None:
    replica = await ReplicaLag.connect(replication.replica.url)
    try:
        await lag_when(replica, lambda lag: lag == 0, "0")
        admin(replication.replica.url, "STOP SLAVE SQL_THREAD")
        assert await replica.seconds_behind() is None  # not replicating
        admin(replication.replica.url, "START SLAVE SQL_THREAD")
        await lag_when(replica, lambda lag: lag == 0, "0")
        replication.follow(delay=60)
        replication.tick()
        await lag_when(replica, lambda lag: lag is not None and lag >= 2, "2 s or more")
    finally:
        replication.follow(delay=0)
        await replica.close()
    with pytest.raises(JobError, match="is not a replica"):
        await ReplicaLag.connect(replication.primary.url)


async def test_the_run_pauses_while_the_real_replica_lags(
    replication: Replication,
    rig,
) -> None:
    stack, client = rig
    await stack.tdb.seed_many(300)
    replica = await ReplicaLag.connect(replication.replica.url)
    try:
        await lag_when(replica, lambda lag: lag == 0, "0")
        replication.follow(delay=60)  # events now wait a minute on the replica
        replication.tick()
        await lag_when(replica, lambda lag: lag is not None and lag >= 2, "2 s or more")

        said: list[str] = []
        job = Job(selection=Selection(list_ids=(1001,)), batch_size=100, concurrency=1)
        pacing = Pacing(replica=replica, max_lag_s=1, poll_s=0.2)
        archiver = Archiver(client, stack.tdb.db, job, pacing=pacing, say=said.append)
        running = asyncio.create_task(archiver.run(await open_source(stack.tdb.db, job)))
        await wait_until(lambda: said, 30, "the run to say it pauses")
        # Not a wait for something: the replica keeps lagging for 1.5 s, and the test is that
        # the run stays paused through those polls of the lag (poll_s 0.2).
        await asyncio.sleep(1.5)
        assert await stack.tdb.count(ARCHIVE) == 0  # paused before the first batch
        assert not running.done()

        replication.follow(delay=0)  # the replica catches up at once
        tally = await asyncio.wait_for(running, 60)
    finally:
        replication.follow(delay=0)
        await replica.close()
    assert tally.exit_code() == EXIT_OK and tally.result.delete_count == 300
    assert said[0].startswith("Replica ") and said[0].endswith(
        "s behind (more than --max-replica-lag 1 s): pausing."
    )
    assert said[-1] == "Replica caught up: resuming."
    assert tally.waited_s >= 1.5
