"""bench.costs' quick mode runs end to end and prints its cost table (not a timing test): it
reads the server's own SQL and metrics, so a renamed statement or metric breaks it here."""

from __future__ import annotations

from tests.bench.support_bench import run_bench


def test_quick_costs_bench_prints_the_cost_table() -> None:
    result = run_bench("bench.costs", "--leads=2000", "--rounds=3", "--batch-size=100")
    for row in ("gRPC batch, client-observed", "key lookup (probe)", "floor batch"):
        assert row in result.stdout, result.stdout
