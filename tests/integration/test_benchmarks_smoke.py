"""Every benchmark runs at a tiny size, so none can rot; figures are not judged here."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks import micro
from benchmarks.report import targets
from benchmarks.rounds import load_rounds
from benchmarks.run import run_all
from producer_pool.testing.broker import BOOTSTRAP_ENV


@pytest.mark.skipif(bool(os.environ.get(BOOTSTRAP_ENV)), reason="needs the embedded broker")
@pytest.mark.timeout(180)
# The connection-pool peer calls the deprecated Condition.notifyAll() on every release.
@pytest.mark.filterwarnings(r"ignore:notifyAll\(\) is deprecated:DeprecationWarning")
def test_every_benchmark_runs_and_reads_back_what_it_sent(tmp_path):
    results = run_all("smoke", tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "benchmarks.json", "benchmarks.md", "benchmarks.png", "benchmarks-micro.json"
    }  # fmt: skip
    assert json.loads((tmp_path / "benchmarks.json").read_text())["scale"] == "smoke"
    # every micro benchmark ran under pyperf, with a figure for its round
    micro_rounds = load_rounds(tmp_path / "benchmarks-micro.json")
    assert micro_rounds == results["micro"]["rounds"]
    expected = {micro.name(m, p) for m, p in micro.SELECTIONS["all"] if micro.available(p)}
    assert set(micro_rounds) == expected
    assert all(len(costs) == 1 and costs[0] > 0 for costs in micro_rounds.values())
    assert set(results["micro"]["double_leases"].values()) == {0}
    # Every run is judged against what its producers' delivery results acknowledged, read
    # back after the writes from offset 0 to a fence: nothing acknowledged may be missing.
    rows = [row for section in ("strategies", "clients") for row in results[section].values()]
    rows += [row for name, row in results["transactions"].items() if name != "rtt_ms"]
    for row in rows:
        assert 0 < row["acknowledged"] <= row["read_back"] <= row["sent"], row
    for row in results["processes"].values():  # children count their own deliveries
        assert 0 < row["read_back"] <= row["sent"], row
        assert {code for codes in row["exit_codes"] for code in codes} == {0}
    for row in results["async_publishing"].values():  # every acknowledgement was awaited
        assert row["acknowledged"] == row["read_back"] == row["sent"], row
    for name, row in results["async_transactions"].items():
        if name != "rtt_ms":
            assert row["read_back"] == row["sent"], row
    report = (tmp_path / "benchmarks.md").read_text()
    assert "## Targets" in report
    assert len(targets(results)) == 21  # every target, each from its rounds
