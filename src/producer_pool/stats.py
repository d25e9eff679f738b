"""`PoolStats`: an immutable snapshot of a pool's gauges and counters, ready to export."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Gauges (size, idle, in_use, waiting) and running totals since the pool was built."""

    name: str
    size: int
    idle: int
    in_use: int
    waiting: int
    max_size: int
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
