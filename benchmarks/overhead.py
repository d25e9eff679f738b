"""What the duration histograms cost: the same uncontended acquire+release, timed with the
pool as it is and with the pool of the commit before them, in alternating subprocesses.

The histograms are always on (no switch to measure them off), so the comparison is with
the code that never had them: `git archive` of `BASELINE` into a temporary directory.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: The last commit without the histograms (wait, hold and creation times).
BASELINE = "54e485b"
ROOT = Path(__file__).parents[1]

_TIMING = """
import sys, time
from producer_pool import ProducerPool

class Obj:
    def close(self): pass

def always_healthy(obj): return True

ops = int(sys.argv[1])
results = []
for options in ({"max_lifetime": None, "max_idle": None},
                {"check": always_healthy, "max_lifetime": 3600.0, "max_idle": 600.0}):
    pool = ProducerPool(Obj, max_size=4, **options)
    acquire = pool.acquire
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(ops):
            with acquire():
                pass
        best = min(best, (time.perf_counter() - began) / ops * 1e9)
    pool.close()
    results.append(best)
print(*results)
"""


def _time(src: Path, ops: int) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-c", _TIMING, str(ops)],
        env={"PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    bare, configured = (float(x) for x in done.stdout.split())
    return bare, configured


def run(ops: int, rounds: int = 3) -> dict[str, Any]:
    """ns per uncontended acquire+release, bare and configured like the YAML, with and
    without the histograms; medians of `rounds` alternating runs."""
    with tempfile.TemporaryDirectory() as baseline_dir:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", BASELINE, "src"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", baseline_dir], input=archive.stdout, check=True)
        sources = {"with histograms": ROOT / "src", "without (baseline)": Path(baseline_dir, "src")}
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in sources}
        for _ in range(rounds):
            for name, src in sources.items():
                samples[name].append(_time(src, ops))
    return {
        name: {
            "bare_ns": statistics.median(s[0] for s in runs),
            "configured_ns": statistics.median(s[1] for s in runs),
        }
        for name, runs in samples.items()
    } | {"baseline": BASELINE}
