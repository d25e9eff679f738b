"""How long callers wait for a lease under contention, from the pool's own statistics: 8
threads over 4 objects, our pools taking turns for several rounds.

Throughput is a pyperf benchmark (`benchmarks.micro`); the waits are a distribution that
only the pool sees, so they are read from `stats()` after each round. A new figure is a new
key in `contended_waits`' result; a new contender, a new entry in `run`'s mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.micro import CONFIGURED, OURS, POOL_SIZE, POOLS, SHARE
from benchmarks.rounds import alternate, fold
from benchmarks.threads import run_concurrently

THREADS = 8


def contended_waits(pool_name: str, leases: int) -> dict[str, Any]:
    """`THREADS` threads each taking `leases` leases of a fresh pool with an empty body."""
    contender = POOLS[pool_name](POOL_SIZE)
    acquire = contender.acquire

    def worker(number: int) -> None:
        for _ in range(leases):
            with acquire():
                pass

    try:
        run_concurrently(worker, THREADS)
        stats = contender.pool.stats()
    finally:
        contender.close()
    return {
        "mean_wait_us": stats.total_wait_seconds / max(1, stats.acquired) * 1e6,
        "max_wait_ms": stats.max_wait_seconds * 1e3,
    }


def run(leases: int, rounds: int, progress: Callable[[], None]) -> dict[str, Any]:
    """Our threaded pools' waits, taking turns for `rounds` rounds."""

    def contender(name: str) -> Callable[[], dict[str, Any]]:
        return lambda: contended_waits(name, leases)

    runs = alternate(
        {name: contender(name) for name in (OURS, CONFIGURED, SHARE)}, rounds, progress
    )
    return {name: fold(r) for name, r in runs.items()}
