"""A batch's writing statements, sent to the server in one round trip.

A batch's statements up to its delete (insert, update, the READY hopper rows, the delete) go
in one round trip: the server runs them in that order and stops at the first that fails,
exactly as separate round trips would, and a connection that dies mid-way leaves the batch
after some prefix of them (SAFETY.md). The fault tests act on this very round trip from
outside the service (tests/faults/wire.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lead_archive_server.core.db import Session
from lead_archive_server.core.phases import report


@dataclass(frozen=True)
class Step:
    """One step of a batch, named as its phase; no statement when it has nothing to do (its
    flag is off, or no lead to touch)."""

    name: str
    statement: str | None = None
    args: Sequence[int] = ()


def step_if(name: str, enabled: bool, statement: str, lead_ids: Sequence[int]) -> Step:
    """A phase's step: its statement when its flag is set and it has leads to touch."""
    return Step(name, statement, lead_ids) if enabled and lead_ids else Step(name)


async def run_steps(session: Session, steps: Sequence[Step]) -> list[int]:
    """Run the steps' statements in order, in one round trip; return the rows each changed
    (0 for a step with no statement)."""
    changed = [0] * len(steps)
    todo = [(i, step) for i, step in enumerate(steps) if step.statement is not None]
    if not todo:
        return changed
    results = await session.execute_all([(s.statement or "", s.args) for _, s in todo])
    for (i, step), (rows, seconds) in zip(todo, results, strict=True):
        report(step.name, seconds)
        changed[i] = rows
    return changed
