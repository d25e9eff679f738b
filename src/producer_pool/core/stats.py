"""`PoolStats`: an immutable snapshot of a pool's gauges and counters, ready to export;
`DeliveryCounts`: the delivery outcomes of a pool's producers."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from .fork import reset_after_fork
from .histogram import Durations

__all__ = ["DeliveryCounts", "PoolStats"]


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Gauges and running totals since the pool was built (or since a fork, in the child).

    `size` counts live objects plus `creating` (factories running); `destroying` objects have
    left the pool and are being closed. When nothing is in flight,
    `created - destroyed == size`. `delivered` and `delivery_errors` count messages by
    their producers' own delivery results (Kafka pools; zero for other objects).

    `acquire_wait`, `hold` and `creation` summarise duration histograms over the pool's life
    (count, sum, p50, p99, max; percentiles within a factor of two): every acquisition's
    wait (zero for those that found an idle object), one exclusive lease in 16's hold time,
    and every successful factory call.
    """

    name: str
    size: int
    idle: int
    in_use: int
    waiting: int
    max_size: int
    creating: int
    destroying: int
    created: int
    destroyed: int
    acquired: int
    timeouts: int
    failed_checks: int
    factory_errors: int
    shared_leases: int
    delivered: int
    delivery_errors: int
    total_wait_seconds: float
    max_wait_seconds: float
    acquire_wait: Durations
    hold: Durations
    creation: Durations

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON logs and metrics exporters."""
        return asdict(self)


class DeliveryCounts:
    """Messages acknowledged and failed by a pool's producers, over the pool's life.

    Producers report each delivery result here (from their own I/O threads, hence the
    lock); the pool shows them in `stats()` and `close()` reports every failure as
    undelivered, even one that happened long before the close.
    """

    __slots__ = ("__weakref__", "_lock", "delivered", "failed")

    def __init__(self) -> None:
        self._reset()
        reset_after_fork(self, DeliveryCounts._reset)

    def _reset(self) -> None:
        """Zero counts and a fresh lock: a forked child counts its own producers only, and
        never waits on a lock a parent's I/O thread held at fork time."""
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0

    def on_delivered(self, result: object = None, *, count: int = 1) -> None:
        with self._lock:
            self.delivered += count

    def on_failed(self, error: object = None, *, count: int = 1) -> None:
        with self._lock:
            self.failed += count

    def __repr__(self) -> str:
        return f"<DeliveryCounts delivered={self.delivered} failed={self.failed}>"
