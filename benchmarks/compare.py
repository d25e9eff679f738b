"""Before and after: the pyperf micro benchmarks on another commit's source and on this
tree's, taking turns round by round, then pyperf's own comparison and each benchmark's cost
ratio (after / before) as a median over the rounds with its spread.

    python -m benchmarks.compare main          # or: make bench-compare REV=main

The benchmark code is this tree's on both sides (`benchmarks.micro` imports only the
public `ProducerPool` and `AsyncProducerPool`); only the package source differs. `make
bench` uses it for the duration histograms' cost, against the commit before them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.micro import SELECTIONS
from benchmarks.rounds import ROOT, Spread, load_rounds, pyperf_rounds, ratio

#: The last commit without the duration histograms (wait, hold and creation times).
HISTOGRAMS_BASELINE = "54e485b"


def compare(
    rev: str,
    out_dir: Path,
    *,
    select: str = "ours",
    rounds: int = 5,
    values: int = 3,
    min_time: float = 0.1,
    loops: int = 0,
    in_process: bool = False,
    progress: Callable[[], None] = lambda: None,
) -> dict[str, Spread]:
    """Each benchmark's cost on this tree over its cost on `rev`, round by round; the pyperf
    files are `out_dir/before.json` and `out_dir/after.json`."""
    with tempfile.TemporaryDirectory() as checkout:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", checkout], input=archive.stdout, check=True)
        files = pyperf_rounds(
            {"before": Path(checkout, "src"), "after": ROOT / "src"},
            out_dir,
            select=select,
            rounds=rounds,
            values=values,
            min_time=min_time,
            loops=loops,
            in_process=in_process,
            progress=progress,
        )
    before, after = load_rounds(files["before"]), load_rounds(files["after"])
    return {name: ratio(after[name], before[name]) for name in after if name in before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the commit to compare this tree with (e.g. main, HEAD~3)")
    parser.add_argument("--select", choices=sorted(SELECTIONS), default="ours")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "compare")
    args = parser.parse_args()
    ratios = compare(
        args.rev,
        args.out,
        select=args.select,
        rounds=args.rounds,
        progress=lambda: print(".", end="", file=sys.stderr, flush=True),
    )
    print(file=sys.stderr)
    subprocess.run(
        [sys.executable, "-m", "pyperf", "compare_to", "--table",
         str(args.out / "before.json"), str(args.out / "after.json")],
        check=True,
    )  # fmt: skip
    print(f"\ncost on this tree / cost on {args.rev}: median of {args.rounds} rounds (min-max)")
    for name, spread in ratios.items():
        print(f"  {name}: {spread.format('.3f')}")


if __name__ == "__main__":
    main()
