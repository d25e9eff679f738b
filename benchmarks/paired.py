"""Before and after in one process: a lease's cost on another commit's pools and on this
tree's, for every measure of `benchmarks.micro`, in alternating rounds, as a median ratio
with its spread.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import producer_pool
from benchmarks.micro import BARE_OPTIONS, CONFIGURED_OPTIONS, MEASURES, POOL_SIZE, Measure, Obj
from benchmarks.rounds import ROOT, Spread, ratio

#: Our pools' options by variant; the asyncio pool is measured bare, as `make bench` does.
VARIANTS: dict[str, dict[str, Any]] = {
    "bare": BARE_OPTIONS,
    "configured": CONFIGURED_OPTIONS,
    "share": {**BARE_OPTIONS, "on_exhausted": "share"},
}
#: Every measure of `benchmarks.micro` on each variant: `make bench-compare`'s "ours" set.
CASES: dict[str, tuple[str, str]] = {
    f"{measure}: {variant}": (measure, variant)
    for measure, timing in MEASURES.items()
    for variant in (["bare"] if timing.is_async else VARIANTS)
}

Side = tuple[Callable[[int], float], Callable[[], object]]  # (time `loops`, close the pool)


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


def _side(
    package: ModuleType, measure: Measure, variant: str, loop: asyncio.AbstractEventLoop
) -> Side:
    options = VARIANTS[variant]
    if not measure.is_async:
        pool = package.ProducerPool(Obj, max_size=POOL_SIZE, **options)
        return (lambda loops: float(measure.time(pool, loops))), pool.close

    async def prewarmed() -> Any:  # an asyncio pool binds the loop it is made in
        made = package.AsyncProducerPool(Obj, max_size=POOL_SIZE, min_size=POOL_SIZE, **options)
        await made.wait()
        return made

    pool = loop.run_until_complete(prewarmed())
    return (
        lambda loops: float(loop.run_until_complete(measure.time(pool, loops))),
        lambda: loop.run_until_complete(pool.close()),
    )


def paired(
    rev: str, *, rounds: int = 20, leases: int = 40_000, cases: list[str] | None = None
) -> dict[str, dict[str, Spread]]:
    """Per case (those named in `cases`, default all): seconds per lease `before` (at `rev`)
    and `after` (this tree), and the ratio after / before of each round, the two sides
    taking turns to go first."""
    results: dict[str, dict[str, Spread]] = {}
    loop = asyncio.new_event_loop()
    try:
        with package_at(rev) as before:
            for case in cases or CASES:
                measure_name, variant = CASES[case]
                measure = MEASURES[measure_name]
                sides = {
                    side: _side(package, measure, variant, loop)
                    for side, package in (("before", before), ("after", producer_pool))
                }
                loops = max(1, leases // measure.inner_loops)
                timings = {side: timing for side, (timing, _) in sides.items()}
                results[case] = _rounds(timings, rounds, loops, loops * measure.inner_loops)
                for _, close in sides.values():
                    close()
    finally:
        loop.close()
    return results


def _rounds(
    sides: dict[str, Callable[[int], float]], rounds: int, loops: int, leases: int
) -> dict[str, Spread]:
    """Each side times `loops` (`leases` leases) per round; seconds per lease, and the ratio."""
    costs: dict[str, list[float]] = {side: [] for side in sides}
    order = list(sides)
    gc.disable()  # a collection lands in one side's round: noise, not cost
    try:
        for _ in range(rounds):
            for side in order:
                costs[side].append(sides[side](loops) / leases)
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
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--leases", type=int, default=40_000, help="per side and round")
    parser.add_argument("--case", action="append", choices=CASES, help="(repeatable) default: all")
    args = parser.parse_args()
    print(f"ns per lease, {args.rounds} alternating rounds of ~{args.leases:,} leases")
    print(f"{'':36}{'before (' + args.rev + ')':>26}{'after':>26}  after / before")
    results = paired(args.rev, rounds=args.rounds, leases=args.leases, cases=args.case)
    for case, figures in results.items():
        ns = {side: figures[side].scaled(1e9).format(",.0f") for side in ("before", "after")}
        ratio = figures["ratio"].format(".3f")
        print(f"{case:36}{ns['before']:>26}{ns['after']:>26}  {ratio}", flush=True)


if __name__ == "__main__":
    main()
