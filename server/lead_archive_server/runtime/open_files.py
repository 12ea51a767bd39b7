"""The open-files limit: raised at start-up from the soft limit to the hard one.

Every connection is a file descriptor. systemd starts services with a soft limit of 1,024
(and a hard one of 524,288); 1,100 idle connections to the gRPC port then left no descriptor
for a REST caller, a database connection or a log file. A process may raise its own soft
limit up to the hard one; the units in deploy/ also set LimitNOFILE.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path

# Linux refuses a soft limit above this (RLIM_INFINITY included).
_NR_OPEN = Path("/proc/sys/fs/nr_open")


@dataclass(frozen=True)
class OpenFiles:
    """The soft limit before and after start-up."""

    before: int
    after: int

    def __str__(self) -> str:
        if self.after > self.before:
            return f"open files limit {self.after} (raised from {self.before})"
        return f"open files limit {self.after}"


def raise_open_files_limit() -> OpenFiles:
    """Raise the soft RLIMIT_NOFILE to the hard limit (as far as the kernel allows)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if target == resource.RLIM_INFINITY or target > _kernel_ceiling():
        target = _kernel_ceiling()
    if target <= soft:
        return OpenFiles(soft, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):  # a kernel or sandbox that says no: keep what we have
        return OpenFiles(soft, soft)
    return OpenFiles(soft, target)


def _kernel_ceiling() -> int:
    try:
        return int(_NR_OPEN.read_text())
    except (OSError, ValueError):
        return 1 << 20  # Linux's default nr_open
