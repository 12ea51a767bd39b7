"""Which leads each measurement archives: distinct, fresh, contiguous batches of lead IDs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

LATENCY_PATHS = ("floor", "grpc", "rest")


@dataclass(frozen=True)
class Plan:
    """Lead IDs 1..leads in batches: latency, then pt-archiver's range, then the bulk run."""

    leads: int
    batch_size: int
    batches: int  # per latency path (floor, gRPC, REST)
    throughput_leads: int  # for the bulk run, and again for pt-archiver
    rounds: int = 1  # the bulk run and pt-archiver take turns, so noise falls on both alike

    @classmethod
    def make(
        cls, leads: int, batch_size: int, batches: int, throughput: int | None, rounds: int = 4
    ) -> Plan:
        latency = len(LATENCY_PATHS) * batches * batch_size
        if throughput is None:
            spare = (leads - latency) // 2
            throughput = min(20_000, spare - spare % batch_size)
        while rounds > 1 and throughput % (rounds * batch_size):
            rounds -= 1
        plan = cls(leads, batch_size, batches, throughput, rounds)
        if throughput < batch_size or latency + 2 * throughput > leads:
            raise ValueError(
                f"{leads} leads are too few for {batches} latency batches of {batch_size} "
                f"per path plus 2 x {throughput} throughput leads"
            )
        return plan

    def batch(self, index: int) -> list[int]:
        """The index-th batch of lead IDs (0-based, IDs start at 1)."""
        first = index * self.batch_size + 1
        return list(range(first, first + self.batch_size))

    def latency_rounds(self) -> Iterator[list[tuple[str, list[int]]]]:
        """Per round, one fresh batch per path, the order rotating so no path always leads."""
        for round_no in range(self.batches):
            paths = LATENCY_PATHS[round_no % 3 :] + LATENCY_PATHS[: round_no % 3]
            yield [
                (path, self.batch(round_no * len(LATENCY_PATHS) + slot))
                for slot, path in enumerate(paths)
            ]

    @property
    def latency_leads(self) -> int:
        return len(LATENCY_PATHS) * self.batches * self.batch_size

    @property
    def pt_range(self) -> tuple[int, int]:
        """lead_id first..last for pt-archiver: the same number of leads as the bulk run.

        Not the table's last leads: pt-archiver never takes the row with the highest
        AUTO_INCREMENT value (its --safe-auto-increment), so that range would come up short.
        """
        first = self.latency_leads + 1
        return first, first + self.throughput_leads - 1

    def bulk_rounds(self) -> list[tuple[tuple[int, int], list[list[int]]]]:
        """Per round, pt-archiver's lead_id range and the bulk run's batches, equal in size.

        pt-archiver goes first in each round, so the table's highest lead_id (in the bulk
        run's last batch) is still there whenever pt-archiver runs.
        """
        per_round = self.throughput_leads // self.rounds
        pt_first, _ = self.pt_range
        bulk_first_batch = (self.latency_leads + self.throughput_leads) // self.batch_size
        batches_per_round = per_round // self.batch_size
        return [
            (
                (pt_first + r * per_round, pt_first + (r + 1) * per_round - 1),
                [
                    self.batch(bulk_first_batch + r * batches_per_round + i)
                    for i in range(batches_per_round)
                ],
            )
            for r in range(self.rounds)
        ]

    @property
    def untouched(self) -> list[int]:
        """A batch left in vicidial_list until pt-archiver moves it (for read-only requests)."""
        first, _ = self.pt_range
        return list(range(first, first + self.batch_size))
