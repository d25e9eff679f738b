"""Zero-loss figures on a 3-broker cluster: `python -m benchmarks.cluster_faults [rounds]`.

Every client runs every scenario of the fault suite (`tests/integration/cluster_scenarios.py`:
a leader moving mid-publish, a broker down and back, a broker failing over, retriable errors
on Produce, a batch rejected outright) on librdkafka's mock cluster, `rounds` times (3 by
default), each on a fresh cluster. Prints a Markdown table of the totals: what callers were
told (acknowledged, failed), what the topic holds (read back, lost, duplicates, failed yet
stored) and what the pool counted.
"""

from __future__ import annotations

import logging
import sys
from collections import defaultdict
from dataclasses import asdict

from producer_pool.testing.cluster import MockCluster
from tests.integration.cluster_scenarios import PUBLISHERS, SCENARIOS, run_scenario

COLUMNS = (
    "sent",
    "acked",
    "failed",
    "read_back",
    "lost",
    "duplicates",
    "unexplained_duplicates",
    "failed_but_stored",
    "counted_delivered",
    "counted_failed",
)


def measure(rounds: int) -> dict[tuple[str, str], list[int]]:
    """(client, scenario) -> the sums of `COLUMNS` over `rounds` runs."""
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(COLUMNS))
    for _ in range(rounds):
        for client in PUBLISHERS:
            for scenario in SCENARIOS:
                with MockCluster(brokers=3) as cluster:
                    figures = asdict(run_scenario(client, scenario, cluster))
                sums = totals[client, scenario]
                for i, column in enumerate(COLUMNS):
                    sums[i] += figures[column]
    return totals


def report(rounds: int = 3) -> str:
    totals = measure(rounds)
    header = ["client", "scenario", *COLUMNS]
    lines = [
        f"3-broker mock cluster (librdkafka), idempotent producers, {rounds} round(s) summed:",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += [
        "| " + " | ".join([client, scenario, *map(str, sums)]) + " |"
        for (client, scenario), sums in totals.items()
    ]
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.CRITICAL)  # the clients log every refused connection
    print(report(int(sys.argv[1]) if len(sys.argv) > 1 else 3), flush=True)


if __name__ == "__main__":
    main()
