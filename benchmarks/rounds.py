"""Rounds: how every figure is measured and reported (a median of several rounds, with the
spread between the slowest and the fastest).

On a shared 2-core machine one measurement decides nothing: the same `make bench` gave the
bare pool 1.40x and 2.75x the floor's cost on one day. So contenders take turns, round after
round, and a ratio is taken inside each round (both sides measured minutes apart at most),
then summarised by its median and its min-max over the rounds. A target is met only when
the median meets it.

Two kinds of rounds: `pyperf_rounds` runs the pyperf micro benchmarks once per round (each
benchmark in worker processes of its own, the loops calibrated in the first round and reused
after); `alternate` runs the Kafka contenders in turn, in this process.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
DASH = "\u2013"  # between a figure's lowest and highest round


@dataclass(frozen=True)
class Spread:
    """The median of a figure over its rounds, and its lowest and highest round."""

    median: float
    low: float
    high: float
    rounds: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no rounds to summarise")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def scaled(self, factor: float) -> Spread:
        """The same figure in another unit (factor > 0)."""
        return Spread(self.median * factor, self.low * factor, self.high * factor, self.rounds)

    def inverse(self, numerator: float = 1.0) -> Spread:
        """`numerator / figure` (seconds per op to ops/s): the lowest becomes the highest."""
        return Spread(
            numerator / self.median, numerator / self.high, numerator / self.low, self.rounds
        )

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "low": self.low, "high": self.high, "rounds": self.rounds}

    def format(self, spec: str = ",.0f") -> str:
        """`1,234 (1,100-1,300)` with an en dash: the median, then the min-max of the rounds."""
        return f"{self.median:{spec}} ({self.low:{spec}}{DASH}{self.high:{spec}})"


def ratio(numerators: Sequence[float], denominators: Sequence[float]) -> Spread:
    """A ratio taken within each round (round i over round i), then summarised."""
    if len(numerators) != len(denominators):
        raise ValueError(f"{len(numerators)} rounds against {len(denominators)}")
    return Spread.of([n / d for n, d in zip(numerators, denominators, strict=True)])


def alternate(
    contenders: Mapping[str, Callable[[], dict[str, Any]]],
    rounds: int,
    progress: Callable[[], None] = lambda: None,
) -> dict[str, list[dict[str, Any]]]:
    """Run every contender once per round, in turn; each one's results, round by round."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            results[name].append(run())
        progress()
    return results


def fold(runs: Sequence[dict[str, Any]], counts: Sequence[str] = ()) -> dict[str, Any]:
    """One contender's rounds: each measured key as a figure (its value in every round, and
    their median, min and max), the `counts` (messages sent, read back...) added up over
    every round so nothing lost in any round is hidden, anything else listed per round."""
    folded: dict[str, Any] = {"rounds": len(runs)}
    for key, value in runs[0].items():
        every = [run[key] for run in runs]
        if key in counts:
            folded[key] = sum(every)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            folded[key] = {"values": every, **Spread.of(every).as_dict()}
        else:
            folded[key] = every
    return folded


def spread(figure: Mapping[str, Any]) -> Spread:
    """A figure `fold` stored, back as a `Spread`."""
    return Spread(figure["median"], figure["low"], figure["high"], int(figure["rounds"]))


# pyperf rounds


def pyperf_rounds(
    sides: Mapping[str, Path | None],
    out_dir: Path,
    *,
    select: str,
    rounds: int,
    values: int,
    min_time: float = 0.1,
    loops: int = 0,
    in_process: bool = False,
    progress: Callable[[], None] = lambda: None,
) -> dict[str, Path]:
    """Run `benchmarks.micro --select select` once per round and side, the sides taking
    turns within each round; side `s` goes to the pyperf file `out_dir/s.json` (one worker
    process per benchmark and round, each run labelled with its round). The first round
    calibrates the loops, the others reuse them (or every round takes `loops`);
    `in_process` runs every benchmark in that process (pyperf's --in-process: a smoke
    test's speed, none of the isolation). A side is
    the package source to measure (another commit's, for `benchmarks.compare`), None for
    the installed one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {side: out_dir / f"{side}.json" for side in sides}
    for path in files.values():
        path.unlink(missing_ok=True)
    for number in range(1, rounds + 1):
        for side, src in sides.items():
            command = [
                sys.executable, "-m", "benchmarks.micro", "--quiet", "--select", select,
                "--round", str(number), "--append", str(files[side]), "--processes", "1",
                "--values", str(values), "--warmups", "1", "--min-time", str(min_time),
            ]  # fmt: skip
            if in_process:
                command.append("--in-process")
            if loops:
                command += ["--loops", str(loops)]
            elif number > 1:
                command += ["--loops-from", str(files[side])]
            env = None if src is None else dict(os.environ, PYTHONPATH=str(src))
            subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        progress()
    return files


def per_round(benchmark: Any) -> dict[int, float]:
    """A pyperf benchmark's seconds per op in each round: the median of that round's values
    (calibration runs, which have none, are skipped)."""
    by_round: dict[int, list[float]] = {}
    for run in benchmark.get_runs():
        if run.values:
            by_round.setdefault(int(run.get_metadata()["round"]), []).extend(run.values)
    return {number: statistics.median(values) for number, values in sorted(by_round.items())}


def load_rounds(path: Path) -> dict[str, list[float]]:
    """Every benchmark of a pyperf file: its seconds per op, round by round."""
    import pyperf

    suite = pyperf.BenchmarkSuite.load(str(path))
    return {bench.get_name(): list(per_round(bench).values()) for bench in suite}
