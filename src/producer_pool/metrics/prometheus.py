"""A `prometheus_client` collector for pools: gauges, `_total` counters and histograms,
labelled with the pool's name.

    from producer_pool.metrics.prometheus import PoolCollector
    collector = PoolCollector([pool])            # registers with the default registry
    collector.add(other_pool)                    # more pools, later

Metric names follow Prometheus's conventions: `producer_pool_` prefix, base units
(`producer_pool_acquire_wait_seconds`), `_total` counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import ConfigError, missing_extra

try:
    from prometheus_client.core import (
        REGISTRY,
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.registry import Collector, CollectorRegistry
except ImportError as exc:
    raise ImportError(missing_extra("producer_pool.metrics.prometheus", "prometheus", exc)) from exc

from . import COUNTERS, GAUGES, HISTOGRAMS, ExportedPools

__all__ = ["PREFIX", "PoolCollector"]

PREFIX = "producer_pool_"
"""The start of every metric's name (`producer_pool_size`)."""


class PoolCollector(Collector):
    """Reads `pools` (any of ours, threaded or asyncio) at each scrape.

    One collector per registry holds every pool: a second one on the same registry, a pool
    added twice, or two open pools with one name is a `ConfigError`. A closed pool leaves.
    """

    def __init__(
        self, pools: Iterable[Any] = (), registry: CollectorRegistry | None = REGISTRY
    ) -> None:
        self._pools = ExportedPools(pools)
        if registry is not None:
            try:
                registry.register(self)
            except ValueError as exc:  # its names are taken: another PoolCollector
                raise ConfigError(
                    f"this registry already has a pool collector ({exc}); add pools to it"
                ) from None

    def add(self, pool: Any) -> None:
        self._pools.add(pool)

    def describe(self) -> Iterator[Metric]:
        """The metric names, without reading the pools (for the registry's clash check)."""
        return self._families(read=False)

    def collect(self) -> Iterator[Metric]:
        return self._families(read=True)

    def _families(self, read: bool) -> Iterator[Metric]:
        labels = ["pool"]
        gauges = {
            field: GaugeMetricFamily(PREFIX + stem, text, labels=labels)
            for field, (stem, text) in GAUGES.items()
        }
        counters = {
            field: CounterMetricFamily(PREFIX + stem, text, labels=labels)
            for field, (stem, text) in COUNTERS.items()
        }
        histograms = {
            field: HistogramMetricFamily(PREFIX + stem, text, labels=labels)
            for field, (stem, text) in HISTOGRAMS.items()
        }
        for pool in self._pools.live() if read else ():
            stats = pool.stats()
            for field, gauge in gauges.items():
                gauge.add_metric([pool.name], getattr(stats, field))
            for field, counter in counters.items():
                counter.add_metric([pool.name], getattr(stats, field))
            for field, histogram in pool.histograms().items():
                buckets = [(_le(bound), count) for bound, count in histogram.cumulative()]
                histograms[field].add_metric([pool.name], buckets, histogram.sum)
        yield from gauges.values()
        yield from counters.values()
        yield from histograms.values()


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
