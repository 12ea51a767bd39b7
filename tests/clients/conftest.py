"""Fixtures of the client tests: the real stack on loopback ports (tests/support_stack.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support import TestDb
from tests.support_stack import Stack, running_stack


@pytest.fixture
async def stack(tdb: TestDb) -> AsyncIterator[Stack]:
    """The stack on each engine, for tests about data."""
    async with running_stack(tdb) as made:
        yield made


@pytest.fixture
async def stack1(databases: dict[str, TestDb]) -> AsyncIterator[Stack]:
    """The stack on one engine, for tests about the client that the engine cannot change."""
    tdb = databases["InnoDB"]
    await tdb.reset()
    async with running_stack(tdb) as made:
        yield made
