"""Fairness under contention: how long each caller waited for its lease, measured from
outside (the time from `acquire()` to the body's first line), so every contender is timed
the same way: ours with bounded barging (the default) and in strict first-come-first-served
order (`fifo_after=0`), the floors and the peers. Their throughput is a pyperf benchmark
(`benchmarks.micro`); this is the distribution behind it: the median, p99 and longest wait
of every lease in a round, and for our pools the timeouts (a waiter that timed out while
objects were free would show here: each run's acquire timeout is 10 s).

8 threads over 4 objects (empty body, and the 20 us hold), and 64 tasks over 4 objects each
yielding once while holding; a fresh pool per run, the contenders taking turns for several
rounds. A new contender is a new entry in `THREADED` or `ASYNCIO`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from benchmarks import micro
from benchmarks.rounds import alternate, fold
from benchmarks.threads import run_concurrently

THREADS = 8
TIMEOUT = 10.0  # seconds: every acquire of ours is bounded by it, and none should reach it
THREADED = (micro.OURS, micro.STRICT, micro.FLOOR, *micro.PEERS)
ASYNCIO = (micro.ASYNC_OURS, micro.ASYNC_STRICT, micro.ASYNC_FLOOR, micro.ASYNC_PEER)
BODIES: dict[str, Callable[[micro.Obj], None]] = {
    micro.THREADS_8: micro._empty,
    micro.HOLD_20US: micro._hold_20us,
}


def _figures(waits: list[float], ours: Any) -> dict[str, Any]:
    """The wait distribution of one run (seconds in, microseconds and milliseconds out), and
    for `ours` (None for the others) the timeouts it counted."""
    waits.sort()
    figures: dict[str, Any] = {
        "p50_us": waits[len(waits) // 2] * 1e6,
        "p99_us": waits[min(len(waits) - 1, int(0.99 * len(waits)))] * 1e6,
        "max_ms": waits[-1] * 1e3,
        "leases": len(waits),
    }
    if ours is not None:
        figures["timeouts"] = ours.stats().timeouts
    return figures


def threaded_waits(
    pool_name: str, body: Callable[[micro.Obj], None], leases: int
) -> dict[str, Any]:
    """`THREADS` threads each taking `leases` leases of a fresh pool, each wait timed."""
    contender = micro.POOLS[pool_name](micro.POOL_SIZE)
    pool = getattr(contender, "pool", None)
    ours = pool if isinstance(pool, micro.ProducerPool) else None
    acquire = contender.acquire if ours is None else lambda: ours.acquire(TIMEOUT)
    per_thread: list[list[float]] = [[] for _ in range(THREADS)]
    clock = time.perf_counter

    def worker(number: int) -> None:
        waits = per_thread[number]
        for _ in range(leases):
            began = clock()
            with acquire() as obj:
                waits.append(clock() - began)
                body(obj)

    try:
        run_concurrently(worker, THREADS)
        return _figures([w for waits in per_thread for w in waits], ours)
    finally:
        contender.close()


async def async_waits(pool_name: str, leases: int) -> dict[str, Any]:
    """`micro.TASKS` tasks each taking `leases` leases of a fresh pool, each wait timed."""
    made = await micro.ASYNC_POOLS[pool_name]()
    ours = made if isinstance(made, micro.AsyncProducerPool) else None
    acquire = made.acquire if ours is None else lambda: ours.acquire(TIMEOUT)
    waits: list[float] = []
    clock = time.perf_counter

    async def worker() -> None:
        for _ in range(leases):
            began = clock()
            async with acquire():
                waits.append(clock() - began)
                await asyncio.sleep(0)

    try:
        await asyncio.gather(*(worker() for _ in range(micro.TASKS)))
        return _figures(waits, ours)
    finally:
        await made.close()


def run(leases: int, rounds: int, progress: Callable[[], None]) -> dict[str, Any]:
    """Every contender's waits under each contended measure, taking turns for `rounds`
    rounds: `{measure: {pool: folded figures}}`."""
    contenders: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {}
    for measure, body in BODIES.items():
        hold_leases = leases // 10 if body is micro._hold_20us else leases  # ~ the same time
        for pool in THREADED:
            if micro.available(pool):
                contenders[(measure, pool)] = lambda p=pool, b=body, n=hold_leases: threaded_waits(
                    p, b, n
                )
    for pool in ASYNCIO:
        if micro.available(pool):
            contenders[(micro.ASYNC_TASKS, pool)] = lambda p=pool: asyncio.run(
                async_waits(p, leases // 8)
            )
    runs = alternate({f"{m}: {p}": run for (m, p), run in contenders.items()}, rounds, progress)
    results: dict[str, Any] = {}
    for (measure, pool), _ in contenders.items():
        results.setdefault(measure, {})[pool] = fold(
            runs[f"{measure}: {pool}"], counts=("timeouts", "leases")
        )
    return results
