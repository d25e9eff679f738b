"""`PoolStats`: an immutable snapshot of a pool's gauges and counters, ready to export."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Gauges and running totals since the pool was built (or since a fork, in the child).

    `size` counts live objects plus `creating` (factories running); `destroying` objects have
    left the pool and are being closed. When nothing is in flight,
    `created - destroyed == size`.
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
    total_wait_seconds: float
    max_wait_seconds: float

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON logs and metrics exporters."""
        return asdict(self)
