"""Before and after in one process: an uncontended lease's cost on another commit's pools
and on this tree's, in alternating rounds, as a median ratio with its spread.

    python -m benchmarks.paired 826b09c        # or: make bench-paired REV=826b09c

Why one process: on this 2-core VM a process's speed varies from one start to the next by
more than the changes worth finding (the same pool measured 1.05 to 1.97 us per lease over
20 processes), so `benchmarks.compare`, whose pyperf workers are processes of their own,
cannot see a 10 % change in an uncontended lease. Here both sides share the process and its
CPU, and each round's ratio compares neighbours in time. The other commit's package is
copied under another name (`producer_pool_<rev>`), so that both import at once. Each
side's code still has its own place in memory: run it twice or more, and trust a change
only when every run shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import producer_pool
from benchmarks.micro import BARE_OPTIONS, CONFIGURED_OPTIONS, Obj
from benchmarks.rounds import ROOT, Spread, ratio

#: The cases: (pool class name, options), one object, one caller, nothing else running.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "threaded bare": ("ProducerPool", BARE_OPTIONS),
    "threaded configured": ("ProducerPool", CONFIGURED_OPTIONS),
    "threaded share": ("ProducerPool", {**BARE_OPTIONS, "on_exhausted": "share"}),
    "asyncio bare": ("AsyncProducerPool", BARE_OPTIONS),
    "asyncio configured": ("AsyncProducerPool", CONFIGURED_OPTIONS),
    "asyncio share": ("AsyncProducerPool", {**BARE_OPTIONS, "on_exhausted": "share"}),
}

Measure = Callable[[int], float]  # leases -> seconds per lease


@contextmanager
def package_at(rev: str) -> Iterator[ModuleType]:
    """`rev`'s `producer_pool`, imported as `producer_pool_<rev>` beside this tree's."""
    name = "producer_pool_" + re.sub(r"\W", "_", rev)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src/producer_pool"],
        capture_output=True,
        check=True,
    ).stdout
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        package = Path(folder, "src", "producer_pool").rename(Path(folder, name))
        for path in package.rglob("*.py"):
            path.write_text(re.sub(r"\bproducer_pool\b", name, path.read_text()))
        sys.path.insert(0, folder)
        try:
            yield importlib.import_module(name)
        finally:
            sys.path.remove(folder)


def _threaded(pool: Any) -> Measure:
    acquire = pool.acquire
    with acquire():
        pass

    def measure(leases: int) -> float:
        began = time.perf_counter()
        for _ in range(leases):
            with acquire():
                pass
        return (time.perf_counter() - began) / leases

    return measure


def _asyncio(pool: Any, loop: asyncio.AbstractEventLoop) -> Measure:
    acquire = pool.acquire

    async def leases_of(count: int) -> float:
        began = time.perf_counter()
        for _ in range(count):
            async with acquire():
                pass
        return (time.perf_counter() - began) / count

    loop.run_until_complete(leases_of(1))
    return lambda leases: loop.run_until_complete(leases_of(leases))


def paired(rev: str, *, rounds: int = 30, leases: int = 50_000) -> dict[str, dict[str, Spread]]:
    """Per case: seconds per lease `before` (at `rev`) and `after` (this tree), and the
    ratio after / before of each round, the two sides taking turns to go first."""
    results: dict[str, dict[str, Spread]] = {}
    loop = asyncio.new_event_loop()
    try:
        with package_at(rev) as before:
            for case, (class_name, options) in CASES.items():
                sides: dict[str, Measure] = {}
                pools = []
                for side, package in (("before", before), ("after", producer_pool)):
                    pool_class = getattr(package, class_name)
                    if class_name == "ProducerPool":
                        pool = pool_class(Obj, max_size=1, **options)
                        sides[side] = _threaded(pool)
                    else:
                        pool = loop.run_until_complete(_in_loop(pool_class, options))
                        sides[side] = _asyncio(pool, loop)
                    pools.append(pool)
                results[case] = _rounds(sides, rounds, leases)
                for pool in pools:
                    closed = pool.close()
                    if asyncio.iscoroutine(closed):
                        loop.run_until_complete(closed)
    finally:
        loop.close()
    return results


async def _in_loop(pool_class: Any, options: dict[str, Any]) -> Any:
    return pool_class(Obj, max_size=1, **options)  # an asyncio pool binds the running loop


def _rounds(sides: dict[str, Measure], rounds: int, leases: int) -> dict[str, Spread]:
    costs: dict[str, list[float]] = {side: [] for side in sides}
    order = list(sides)
    gc.disable()  # a collection lands in one side's round: noise, not cost
    try:
        for _ in range(rounds):
            for side in order:
                costs[side].append(sides[side](leases))
            order.reverse()
    finally:
        gc.enable()
    return {
        "before": Spread.of(costs["before"]),
        "after": Spread.of(costs["after"]),
        "ratio": ratio(costs["after"], costs["before"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the commit to compare this tree with (e.g. main, HEAD~3)")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--leases", type=int, default=50_000, help="per side and round")
    args = parser.parse_args()
    print(f"ns per uncontended lease, {args.rounds} alternating rounds of {args.leases:,} leases")
    print(f"{'':22}{'before (' + args.rev + ')':>26}{'after':>26}  after / before")
    for case, figures in paired(args.rev, rounds=args.rounds, leases=args.leases).items():
        ns = {side: figures[side].scaled(1e9).format(",.0f") for side in ("before", "after")}
        ratio = figures["ratio"].format(".3f")
        print(f"{case:22}{ns['before']:>26}{ns['after']:>26}  {ratio}", flush=True)


if __name__ == "__main__":
    main()
