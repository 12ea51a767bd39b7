"""What every answer of the endpoint must look like, and the server the OpenAPI fuzz tests
run against (its fixture, serve_process, is in tests/e2e/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pymysql
from lead_archive_server.core.database_url import DatabaseUrl

from tests.support import ARCHIVE, LEADS

STATUSES = {200, 400, 401, 403, 500}
KEYS = {
    200: {"message", "select_count", "insert_count", "update_count", "delete_count"},
    400: {"message", "lead_errors", "lead_ids"},
    401: {"message"},
    403: {"message"},
    500: {"message", "lead_errors", "lead_ids"},
}
FIXED_MESSAGES = {
    200: "lead_ids batch was successfully processed",
    401: "unable to validate api user",
    403: "api cannot be executed during office hours time condition",
}


def assert_documented(status: int, body: Any) -> None:
    """One of the five statuses, with exactly the documented keys and value types."""
    assert status in STATUSES, (status, body)
    assert isinstance(body, dict) and set(body) == KEYS[status], (status, body)
    message = body["message"]
    assert isinstance(message, str) and message, body
    assert "Traceback" not in message and "SELECT " not in message, body
    if status in FIXED_MESSAGES:
        assert message == FIXED_MESSAGES[status], body
    if status == 200:
        counts = [body[k] for k in KEYS[200] - {"message"}]
        assert all(type(n) is int and n >= 0 for n in counts), body
    elif status in (400, 500):
        assert type(body["lead_errors"]) is int and body["lead_errors"] >= 0, body
        assert isinstance(body["lead_ids"], list), body
        if status == 500:
            assert (body["lead_errors"], body["lead_ids"]) == (0, []), body


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
