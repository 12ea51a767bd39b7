"""How far behind a replica is, for --max-replica-lag (as pt-archiver's --max-lag)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lead_archive_server.bulk.errors import JobError
from lead_archive_server.core import sql
from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database
from lead_archive_server.core.errors import ArchiveError


@dataclass
class ReplicaLag:
    """A replica's Seconds_Behind_Master, read with SHOW REPLICA STATUS (SHOW SLAVE STATUS on
    servers older than MariaDB 10.5.1 / MySQL 8.0.22), on a connection of its own."""

    db: Database
    _statement: str = ""

    @classmethod
    async def connect(cls, url: DatabaseUrl) -> ReplicaLag:
        """Connect and check that the server is a replica; JobError otherwise."""
        replica = cls(await Database.connect(url, pool_size=1))
        try:
            rows = await replica._status()
        except ArchiveError as error:
            await replica.close()
            raise JobError(f"--replica {url.masked()}: {error.message}") from None
        if not rows:
            await replica.close()
            raise JobError(
                f"--replica {url.masked()} is not a replica: SHOW REPLICA STATUS is empty"
            )
        return replica

    async def seconds_behind(self) -> float | None:
        """The largest lag of its replication channels; None when one replicates nothing."""
        lags = [row.get("Seconds_Behind_Master") for row in await self._status()]
        if not lags or any(lag is None for lag in lags):
            return None
        return float(max(int(str(lag)) for lag in lags))

    async def close(self) -> None:
        """Close the connection."""
        await self.db.close()

    async def _status(self) -> list[dict[str, Any]]:
        for statement in (self._statement,) if self._statement else sql.SHOW_REPLICA_STATUS:
            try:
                async with self.db.session() as session:
                    rows = await session.fetch_dicts(statement)
            except ArchiveError:
                if statement == sql.SHOW_REPLICA_STATUS[-1] or self._statement:
                    raise
                continue
            self._statement = statement
            return rows
        raise AssertionError("unreachable")
