"""OpenTelemetry observable instruments for pools, through `opentelemetry-api` only: the
application's SDK and exporter decide where they go.

    from producer_pool.metrics.otel import PoolInstruments
    instruments = PoolInstruments(meter, [pool])

Names follow OpenTelemetry's conventions: dotted, no `_total` suffix (exporters add it),
units in UCUM (`s`, `{object}`), the pool's name as the `pool.name` attribute. The API has
no observable histogram, so each duration histogram is exported as its p50, p99 and max,
a gauge with a `quantile` attribute ("0.5", "0.99", "1").
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError, missing_extra

try:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation
except ImportError as exc:
    raise ImportError(missing_extra("producer_pool.metrics.otel", "otel", exc)) from exc

from . import COUNTERS, GAUGES, HISTOGRAMS, ExportedPools

__all__ = ["PREFIX", "PoolInstruments"]

PREFIX = "producer_pool."
"""The start of every instrument's name (`producer_pool.size`)."""
_instrumented: weakref.WeakSet[Meter] = weakref.WeakSet()


class PoolInstruments:
    """Observable gauges and counters on `meter`, read from `pools` at each collection.

    One per meter holds every pool: a second one on the same meter, a pool added twice, or
    two open pools with one name is a `ConfigError`. A closed pool leaves.
    """

    def __init__(self, meter: Meter, pools: Iterable[Any] = ()) -> None:
        if meter in _instrumented:
            raise ConfigError("this meter already has pool instruments; add pools to them")
        _instrumented.add(meter)
        self._pools = ExportedPools(pools)
        for field, (stem, text) in GAUGES.items():
            meter.create_observable_gauge(
                PREFIX + stem, [self._reader(field)], unit="{object}", description=text
            )
        for field, (stem, text) in COUNTERS.items():
            meter.create_observable_counter(
                PREFIX + stem, [self._reader(field)], unit="1", description=text
            )
        for field, (stem, text) in HISTOGRAMS.items():
            name = PREFIX + stem.removesuffix("_seconds")
            meter.create_observable_gauge(
                name, [self._quantiles(field)], unit="s", description=f"{text}: p50, p99, max"
            )

    def add(self, pool: Any) -> None:
        self._pools.add(pool)

    def _reader(self, field: str) -> Any:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(getattr(pool.stats(), field), {"pool.name": pool.name})
                for pool in self._pools.live()
            ]

        return observe

    def _quantiles(self, field: str) -> Any:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            observations = []
            for pool in self._pools.live():
                durations = getattr(pool.stats(), field)
                for quantile, value in (("0.5", durations.p50), ("0.99", durations.p99),
                                        ("1", durations.max)):  # fmt: skip
                    observations.append(
                        Observation(value, {"pool.name": pool.name, "quantile": quantile})
                    )
            return observations

        return observe
