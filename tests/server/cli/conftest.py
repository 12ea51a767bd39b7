"""Fixtures of the command tests."""

from __future__ import annotations

import pytest

from tests.support import TestDb


@pytest.fixture
def archive_env(monkeypatch: pytest.MonkeyPatch, tdb: TestDb) -> TestDb:
    for name in ("LEAD_ARCHIVE_CONFIG", "LEAD_ARCHIVE_TARGET", "LEAD_ARCHIVE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEAD_ARCHIVE_DATABASE_URL", tdb.db.url.url())
    return tdb
