"""A batch's writing statements, run in order: in one round trip, or one by one for tests.

Production sends a batch's statements up to its delete (insert, update, the READY hopper
rows, the delete) in one round trip: the server runs them in that order and stops at the
first that fails, exactly as separate round trips would, and a connection that dies mid-way
leaves the same states behind. Fault tests pass a hook (StepHook) to act between the steps;
then each statement goes alone and the hook runs after each step. The statements are the
same either way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from lead_archive_server.core.db import Session
from lead_archive_server.core.phases import phase, report

# Test seam: awaited between the batch's statements with the step's name ("start" before the
# first, then "checked", "insert", "update", "hopper", "delete" after each; a restore has no
# "update" and no "hopper") and the batch's session, so fault tests can kill the connection
# or change the schema at an exact point. Production code never passes one.
StepHook = Callable[[str, Session], Awaitable[None]]


async def no_hook(step: str, session: Session) -> None:
    """The default: go straight on."""


@dataclass(frozen=True)
class Step:
    """One step of a batch, named as its phase and its hook; no statement when it has
    nothing to do (its flag is off, or no lead to touch)."""

    name: str
    statement: str | None = None
    args: Sequence[int] = ()


def step_if(name: str, enabled: bool, statement: str, lead_ids: Sequence[int]) -> Step:
    """A phase's step: its statement when its flag is set and it has leads to touch."""
    return Step(name, statement, lead_ids) if enabled and lead_ids else Step(name)


async def run_steps(session: Session, steps: Sequence[Step], after_step: StepHook) -> list[int]:
    """Run the steps in order; return the rows each changed (0 for a step with no statement).

    The hook runs after every step but the last: the caller completes the last one (a
    guarded delete may need a second statement) and then runs its hook.
    """
    changed = [0] * len(steps)
    if after_step is no_hook:
        todo = [(i, step) for i, step in enumerate(steps) if step.statement is not None]
        if not todo:
            return changed
        results = await session.execute_all([(s.statement or "", s.args) for _, s in todo])
        for (i, step), (rows, seconds) in zip(todo, results, strict=True):
            report(step.name, seconds)
            changed[i] = rows
        return changed
    for i, step in enumerate(steps):
        if step.statement is not None:
            with phase(step.name):
                changed[i] = await session.execute(step.statement, step.args)
        if i < len(steps) - 1:
            await after_step(step.name, session)
    return changed
