"""schemathesis against the shim's own OpenAPI document, served by `lead-archive serve`.

Every generated request (with a valid key) must get a documented status with the documented
body, conform to the document, and change no table unless it was a 200.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from lead_archive_server.access.keys import create_key
from lead_archive_server.core.database_url import DatabaseUrl
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, status_code_conformance

from tests.e2e.fuzz_support import assert_documented
from tests.processes import environment, free_port, serving
from tests.support import ARCHIVE, LEADS, TestDb


@dataclass
class Served:
    url: str
    key: str
    database: DatabaseUrl

    def snapshot(self) -> tuple[Any, ...]:
        db = self.database
        with (
            pymysql.connect(
                host=db.host, port=db.port, user=db.user, password=db.password, database=db.database
            ) as connection,
            connection.cursor() as cursor,
        ):
            tables = []
            for table in (LEADS, ARCHIVE):
                cursor.execute(f"SELECT * FROM {table} ORDER BY lead_id")
                tables.append(cursor.fetchall())
            return tuple(tables)


@pytest.fixture
async def served(tdb: TestDb, tmp_path: Path) -> AsyncIterator[Served]:
    await tdb.seed_many(30)
    key = await create_key(tdb.db, "6666")
    http_port = free_port()
    env = environment(
        database_url=tdb.db.url.url(),
        grpc_port=str(free_port()),
        http_port=str(http_port),
        office_hours="none",
    )
    async with serving(env, tmp_path / "serve.log"):
        yield Served(f"http://127.0.0.1:{http_port}", key, tdb.db.url)


def test_every_generated_request_gets_a_documented_answer(served: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    operation = schema["/vicidial/leads/archive"]["POST"]
    statuses: set[int] = set()

    @settings(
        max_examples=80,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(
        case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
        | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    )
    def check(case: Any) -> None:
        before = served.snapshot()
        response = case.call(headers={"Authorization": f"Key={served.key}"}, timeout=30)
        case.validate_response(response, checks=[status_code_conformance, content_type_conformance])
        assert_documented(response.status_code, response.json())
        statuses.add(response.status_code)
        if response.status_code != 200:
            assert served.snapshot() == before

    check()
    print(f"\nschemathesis: statuses seen {sorted(statuses)}")
    assert statuses >= {400, 500}, statuses  # documented errors were reached, not just one
