"""Exporters of the pools' stats and histograms: `prometheus` (extra `prometheus`) and
`otel` (extra `otel`). Both read the pools when scraped or collected; nothing is pushed,
and the pools pay nothing between scrapes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError

__all__ = ["COUNTERS", "GAUGES", "HISTOGRAMS", "with_pools"]

#: stats field -> (metric name stem, help): the same set for both exporters.
GAUGES = {
    "size": ("size", "Objects in the pool: live plus being created"),
    "idle": ("idle", "Objects ready to lease"),
    "in_use": ("in_use", "Objects leased out"),
    "waiting": ("waiting", "Callers waiting for an object"),
    "max_size": ("max_size", "The pool's max_size"),
}
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
HISTOGRAMS = {
    "acquire_wait": ("acquire_wait_seconds", "Time a caller waited for a lease"),
    "hold": ("hold_seconds", "Time a lease was held (one exclusive lease in 16)"),
    "creation": ("creation_seconds", "Time a factory call took"),
}


def with_pools(known: list[Any], pools: Iterable[Any]) -> list[Any]:
    """`known` plus `pools`, each pool once and each name once; a clear error otherwise
    (one name for two pools would merge their series)."""
    kept = list(known)
    for pool in pools:
        if any(pool is other for other in kept):
            raise ConfigError(f"pool {pool.name!r} is registered twice")
        if any(pool.name == other.name for other in kept):
            raise ConfigError(
                f"two pools are named {pool.name!r}: give each a unique name= to export them"
            )
        kept.append(pool)
    return kept
