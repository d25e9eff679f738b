"""Every benchmark runs at a tiny size, so none can rot; figures are not judged here."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks.run import run_all
from producer_pool.broker import BOOTSTRAP_ENV


@pytest.mark.skipif(bool(os.environ.get(BOOTSTRAP_ENV)), reason="needs the embedded broker")
@pytest.mark.timeout(180)
# The connection-pool peer calls the deprecated Condition.notifyAll() on every release.
@pytest.mark.filterwarnings(r"ignore:notifyAll\(\) is deprecated:DeprecationWarning")
def test_every_benchmark_runs_and_reads_back_what_it_sent(tmp_path):
    results = run_all("smoke", tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "benchmarks.json", "benchmarks.md", "benchmarks.png"
    }  # fmt: skip
    assert json.loads((tmp_path / "benchmarks.json").read_text())["scale"] == "smoke"
    assert all(row["double_leases"] == 0 for row in results["micro"].values())
    for section in ("strategies", "clients", "processes"):
        for name, row in results[section].items():
            if name.startswith("confluent-kafka"):
                # Against tansu, ~1 in 16 of these runs (4 librdkafka connections at full speed
                # into one partition) stores a few dozen records fewer than librdkafka reports
                # flushed; see docs/design.md. Figures, not this check, are what it is for.
                assert 0.9 * row["sent"] <= row["read_back"] <= row["sent"], name
            else:
                assert row["read_back"] == row["sent"], f"{section}: {name}"
    assert all(
        row["exit_codes"] == [0] * len(row["exit_codes"]) for row in results["processes"].values()
    )
    transactions = {k: v for k, v in results["transactions"].items() if k != "rtt_ms"}
    assert all(row["read_back"] == row["sent"] for row in transactions.values())
    assert "## Targets" in (tmp_path / "benchmarks.md").read_text()
