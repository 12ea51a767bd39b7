"""The whole stack in one process: HTTP → REST shim → gRPC → archive → real MariaDB (the
fixture over it is in tests/e2e/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from lead_archive_rest_shim.main import create_app
from lead_archive_server.runtime.app import create_server
from lead_archive_server.runtime.settings import Settings

from tests.support import TestDb

ENDPOINT = "/vicidial/leads/archive"
NIGHT = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # Sunday, outside any office hours
MONDAY_MORNING = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = NIGHT

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Stack:
    http: httpx.AsyncClient
    key: str
    clock: Clock
    tdb: TestDb
    headers: dict[str, str] = field(default_factory=dict)

    async def post(self, body: Any = None, *, raw: bytes | None = None, headers=None):
        sent = dict(self.headers if headers is None else headers)
        content = raw if raw is not None else httpx.Request("POST", "/", json=body).content
        return await self.http.post(ENDPOINT, content=content, headers=sent)


def full_request(lead_ids, **flags) -> dict[str, Any]:
    return (
        {"insert_leads": True, "update_leads": True, "delete_leads": True}
        | flags
        | {"lead_ids": lead_ids}
    )


@asynccontextmanager
async def in_process_stack(tdb: TestDb) -> AsyncIterator[tuple[FastAPI, Clock]]:
    """The real gRPC server on a free port and the shim app in front of it, started."""
    settings = Settings(
        database_url=tdb.db.url.url(), office_hours="mon-fri 08:00-18:00", timezone="UTC"
    )
    clock = Clock()
    server, port = create_server(settings, tdb.db, clock=clock, port=0)
    await server.start()
    app = create_app(f"127.0.0.1:{port}")
    try:
        async with app.router.lifespan_context(app):
            yield app, clock
    finally:
        await server.stop(None)
