"""Tables of the guide pages that restate the code stay equal to it: the stats fields and
the metric names on the Operations page."""

from __future__ import annotations

import dataclasses
import re

from producer_pool import Durations, PoolStats
from producer_pool.metrics import COUNTERS, GAUGES, HISTOGRAMS
from tests.docs.site import ROOT, code_names, section, tables


def test_every_stats_field_is_documented_in_order():
    stats_table, durations_table = tables(section("operations.md", "## Stats"))
    documented = [code_names(row[0])[0] for row in stats_table]
    assert documented == [field.name for field in dataclasses.fields(PoolStats)]
    documented = [code_names(row[0])[0] for row in durations_table]
    assert documented == [field.name for field in dataclasses.fields(Durations)]


def exported_metrics() -> dict[str, str]:
    """Prometheus metric name -> the stats field it exports (what the collector emits)."""
    names = {f"producer_pool_{stem}": field for field, (stem, _) in GAUGES.items()}
    names |= {f"producer_pool_{stem}_total": field for field, (stem, _) in COUNTERS.items()}
    names |= {f"producer_pool_{stem}": field for field, (stem, _) in HISTOGRAMS.items()}
    return names


def test_the_metrics_table_lists_every_metric_with_its_field():
    (table,) = tables(section("operations.md", "## Metrics"))
    documented = {code_names(row[0])[0]: code_names(row[2])[0] for row in table}
    assert documented == exported_metrics()


def test_the_alerts_use_only_metrics_that_exist():
    alerts = section("operations.md", "### Alerts")
    used = {
        re.sub(r"_(bucket|count|sum)$", "", name)
        for name in re.findall(r"producer_pool_\w+", alerts)
    }
    assert used and used <= set(exported_metrics())


def test_the_readme_figures_are_the_benchmark_report_s():
    """One source for figures: the README's table (which `make bench` writes between two
    markers) is the Targets table of docs/benchmarks.md, row for row."""
    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- make bench: figures start -->", "<!-- make bench: figures end -->"
    assert start in readme and end in readme, "the README lost make bench's figure markers"
    (readme_table,) = tables(readme.split(start, 1)[1].split(end, 1)[0])
    (report_table,) = tables(section("benchmarks.md", "## Targets"))
    assert readme_table == report_table
