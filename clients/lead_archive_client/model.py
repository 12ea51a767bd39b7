"""What a batch asks for and what it did, and what a key may do: plain values shared by the
gRPC and REST clients."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from lead_archive_client.vocabulary import INT64_MAX, INT64_MIN


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    """What one batch read and changed (or, added up with ``+``, what many batches did).

    ``kept_count`` is how many requested leads stayed in vicidial_list because their archived
    copy differs (they changed while being archived); it is 0 when the batch did not delete.
    ``in_use_count`` is how many stayed because Vicidial's dialer uses them (in a call, on an
    agent's screen, taken from the hopper, a callback due); only gRPC reports it, REST counts
    them in ``kept_count``.
    """

    select_count: int = 0
    insert_count: int = 0
    update_count: int = 0
    delete_count: int = 0
    kept_count: int = 0
    in_use_count: int = 0

    def __add__(self, other: ArchiveResult) -> ArchiveResult:
        """Add two results count by count."""
        return ArchiveResult(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(ArchiveResult))
        )


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What one restore batch read and changed (or, added up with ``+``, many batches).

    ``insert_count`` is rows added to vicidial_list, ``delete_count`` rows removed from the
    archive; ``kept_count`` is how many requested leads stayed in the archive because
    vicidial_list already holds other data for them (both rows are left untouched).
    """

    select_count: int = 0
    insert_count: int = 0
    delete_count: int = 0
    kept_count: int = 0

    def __add__(self, other: RestoreResult) -> RestoreResult:
        """Add two results count by count."""
        return RestoreResult(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(RestoreResult))
        )


@dataclass(frozen=True, slots=True)
class Access:
    """What ``check_access`` learnt of the key: whose it is and what it may do.

    ``scopes`` are the key's, in the vocabulary's order (``Scope``): "archive" lets it call
    ``archive``, "restore" ``restore``; a call without its scope raises ScopeMissing.
    """

    api_user: str
    scopes: tuple[str, ...]

    def allows(self, scope: str) -> bool:
        """Whether the key carries the scope."""
        return scope in self.scopes


def sendable_lead_ids(lead_ids: Iterable[int]) -> list[int]:
    """Return the IDs as a list, or raise TypeError/ValueError for what no request can carry.

    Counts, duplicates and existence are the server's to judge (it answers InvalidLeads);
    only values that cannot be sent at all are refused here, the same way by both clients.
    """
    checked = list(lead_ids)
    for lead_id in checked:
        if isinstance(lead_id, bool) or not isinstance(lead_id, int):
            raise TypeError(f"lead IDs must be integers, got {lead_id!r}")
        if not INT64_MIN <= lead_id <= INT64_MAX:
            raise ValueError(f"lead ID {lead_id} is outside the 64-bit range a request carries")
    return checked


def checked_flag(name: str, value: bool) -> bool:
    """Refuse a flag that is not a real bool (1 or "yes" would be silently truthy)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value
