"""Exporters of the pools' stats and histograms: `prometheus` (extra `prometheus`) and
`otel` (extra `otel`). Both read the pools when scraped or collected; nothing is pushed,
and the pools pay nothing between scrapes. Closed pools leave them (`ExportedPools`)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError

__all__ = ["COUNTERS", "GAUGES", "HISTOGRAMS", "ExportedPools"]

GAUGES = {
    "size": ("size", "Objects in the pool: live plus being created"),
    "idle": ("idle", "Objects ready to lease"),
    "in_use": ("in_use", "Objects leased out"),
    "waiting": ("waiting", "Callers waiting for an object"),
    "max_size": ("max_size", "The pool's max_size"),
}
"""stats gauge -> (metric name stem, help): current values, the same for both exporters."""
COUNTERS = {
    "created": ("created", "Objects created"),
    "destroyed": ("destroyed", "Objects destroyed"),
    "acquired": ("acquired", "Leases handed out"),
    "timeouts": ("timeouts", "Acquires that ended in PoolTimeout"),
    "failed_checks": ("failed_checks", "Objects retired by a failed health check"),
    "factory_errors": ("factory_errors", "Factory calls that raised"),
    "delivered": ("deliveries_acknowledged", "Messages the broker acknowledged"),
    "delivery_errors": ("deliveries_failed", "Messages that could not be delivered"),
}
"""stats counter -> (metric name stem, help): monotonic totals, the same for both exporters."""
HISTOGRAMS = {
    "acquire_wait": ("acquire_wait_seconds", "Time a caller waited for a lease"),
    "hold": ("hold_seconds", "Time a lease was held (one exclusive lease in 16)"),
    "creation": ("creation_seconds", "Time a factory call took"),
}
"""stats histogram -> (metric name stem, help): durations in seconds, the same for both
exporters."""


class ExportedPools:
    """The pools an exporter reads, each once and each name once (one name for two pools
    would merge their series). Held weakly, and a closed pool leaves at the next read: an
    exporter never keeps a pool alive nor exports it after close(), and a new pool may take
    a closed one's name."""

    def __init__(self, pools: Iterable[Any] = ()) -> None:
        self._lock = threading.Lock()  # scrapes and add() may come from different threads
        self._refs: list[weakref.ref[Any]] = []
        for pool in pools:
            self.add(pool)

    def add(self, pool: Any) -> None:
        with self._lock:
            for other in self._live_locked():
                if pool is other:
                    raise ConfigError(f"pool {pool.name!r} is registered twice")
                if pool.name == other.name:
                    raise ConfigError(
                        f"two pools are named {pool.name!r}: give each a unique name= to "
                        "export them"
                    )
            self._refs.append(weakref.ref(pool))

    def live(self) -> list[Any]:
        """The pools to read now: alive and open."""
        with self._lock:
            return self._live_locked()

    def _live_locked(self) -> list[Any]:
        live, kept = [], []
        for ref in self._refs:
            pool = ref()
            if pool is not None and not pool.closed:
                live.append(pool)
                kept.append(ref)
        self._refs = kept
        return live
