"""Which leads each measurement archives: distinct, fresh, contiguous batches of lead IDs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
LATENCY_PATHS = ("floor", "grpc", "rest")
BULK_PATHS = ("floor", "process", "pt")
# The bulk rounds' lists, seeded in this order (lead IDs 1.. run pt, floor, process).
PT_LIST, FLOOR_LIST, PROCESS_LIST = 3000, 3001, 3002


@dataclass(frozen=True)
class Plan:
    """Lead IDs 1..leads in batches for the per-batch rounds; whole lists for the bulk rounds."""

    leads: int
    batch_size: int
    batches: int  # per latency path (floor, gRPC, REST): the rounds
    bulk_leads: int = 100_000  # one list for the process, one for the floor, per bulk round
    bulk_rounds: int = 3
    pt_leads: int = 20_000  # pt-archiver's share of a bulk round

    @classmethod
    def make(
        cls,
        leads: int,
        batch_size: int,
        batches: int,
        bulk_leads: int = 100_000,
        bulk_rounds: int = 3,
        pt_leads: int = 20_000,
    ) -> Plan:
        plan = cls(leads, batch_size, batches, bulk_leads, bulk_rounds, pt_leads)
        if plan.latency_leads + batch_size > leads:
            raise ValueError(
                f"{leads} leads are too few for {batches} rounds of {len(LATENCY_PATHS)} "
                f"batches of {batch_size} plus one batch kept for read-only requests"
            )
        if bulk_leads < batch_size or pt_leads < batch_size or bulk_rounds < 1:
            raise ValueError("--bulk-leads and --pt-leads need a batch each, --bulk-rounds 1+")
        return plan

    def batch(self, index: int) -> list[int]:
        """The index-th batch of lead IDs (0-based, IDs start at 1)."""
        first = index * self.batch_size + 1
        return list(range(first, first + self.batch_size))

    def latency_rounds(self) -> Iterator[list[tuple[str, list[int]]]]:
        """Per round, one fresh batch per path, the order rotating so no path always leads."""
        for round_no in range(self.batches):
            paths = rotated(LATENCY_PATHS, round_no)
            yield [
                (path, self.batch(round_no * len(LATENCY_PATHS) + slot))
                for slot, path in enumerate(paths)
            ]

    @property
    def latency_leads(self) -> int:
        return len(LATENCY_PATHS) * self.batches * self.batch_size

    @property
    def untouched(self) -> list[int]:
        """The table's last batch, never archived (for validation and read-only requests)."""
        return list(range(self.leads - self.batch_size + 1, self.leads + 1))

    def bulk_lists(self, pt: bool) -> list[tuple[int, int]]:
        """(list_id, leads) seeded for every bulk round, pt-archiver's list first."""
        lists = [(FLOOR_LIST, self.bulk_leads), (PROCESS_LIST, self.bulk_leads)]
        return [(PT_LIST, self.pt_leads), *lists] if pt else lists

    @property
    def pt_range(self) -> tuple[int, int]:
        """pt-archiver's lead_id range in a bulk round (its list is seeded first)."""
        return 1, self.pt_leads

    def bulk_orders(self) -> Iterator[tuple[str, ...]]:
        """Per bulk round, the order of the floor, the process and pt-archiver, rotating."""
        for round_no in range(self.bulk_rounds):
            yield rotated(BULK_PATHS, round_no)


def rotated(paths: tuple[T, ...], by: int) -> tuple[T, ...]:
    """The paths starting from the by-th (mod their number)."""
    start = by % len(paths)
    return paths[start:] + paths[:start]
