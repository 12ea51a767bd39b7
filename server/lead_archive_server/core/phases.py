"""Timing hooks for the archive's phases: archive.py reports, observers listen.

archive.py wraps each phase in ``with phase("insert"):`` and knows nothing else; metrics
and the per-request log register observers here. An observer that raises is logged and
never disturbs a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import perf_counter

log = logging.getLogger(__name__)

PhaseObserver = Callable[[str, float], None]
_observers: list[PhaseObserver] = []

# The phases archive.py reports, in the order a batch runs them.
PHASES = ("lock", "schema", "select", "insert", "update", "hopper", "delete")


def add_observer(observer: PhaseObserver) -> None:
    """Call observer(phase, seconds) after every phase; adding one twice has no effect."""
    if observer not in _observers:
        _observers.append(observer)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the block and report it to every observer, whether it succeeded or not."""
    started = perf_counter()
    try:
        yield
    finally:
        report(name, perf_counter() - started)


def report(name: str, seconds: float) -> None:
    """Tell every observer how long a phase took (timed by the caller)."""
    for observer in list(_observers):
        try:
            observer(name, seconds)
        except Exception:
            log.exception("phase observer failed")
