"""Duration histograms cheap enough to leave on: fixed log-scale buckets, O(1) to record.

Recording is one C-level `bisect` and three additions, under the pool's lock, with no
allocation. Percentiles are read from the buckets (the bucket's upper bound, never more
than the largest value seen), so they are exact to within a factor of two; the maximum and
the sum are exact. The buckets are the `le` bounds Prometheus histograms expose.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Final

__all__ = ["BOUNDS", "Durations", "Histogram"]

BOUNDS: Final[tuple[float, ...]] = tuple(1e-6 * 2**i for i in range(32))
"""Upper bounds, in seconds: 1 µs doubling up to about 36 minutes; above that, +Inf."""


@dataclass(frozen=True, slots=True)
class Durations:
    """A summary of one histogram: how many, their sum, p50, p99 and max (seconds)."""

    count: int = 0
    sum: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    max: float = 0.0


class Histogram:
    """Counts of durations per bucket of `BOUNDS` (plus one for +Inf)."""

    __slots__ = ("count", "counts", "max", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS) + 1)
        self.count = 0
        self.sum = 0.0
        self.max = 0.0

    def record(self, seconds: float) -> None:
        self.counts[bisect_left(BOUNDS, seconds)] += 1
        self.count += 1
        self.sum += seconds
        if seconds > self.max:
            self.max = seconds

    def copy(self) -> Histogram:
        copy = Histogram()
        copy.counts = list(self.counts)
        copy.count, copy.sum, copy.max = self.count, self.sum, self.max
        return copy

    def record_zeros(self, count: int) -> Histogram:
        """A copy with `count` more zero durations (acquisitions that never waited, which
        the hot path does not record one by one)."""
        copy = self.copy()
        copy.counts[0] += count
        copy.count += count
        return copy

    def percentile(self, fraction: float) -> float:
        """The smallest bucket bound at or above `fraction` of the values (capped by max)."""
        if not self.count:
            return 0.0
        rank = fraction * self.count
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank and count:
                return min(BOUNDS[index] if index < len(BOUNDS) else self.max, self.max)
        return self.max

    def summary(self) -> Durations:
        return Durations(
            count=self.count,
            sum=self.sum,
            p50=self.percentile(0.5),
            p99=self.percentile(0.99),
            max=self.max,
        )

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, values at or below it) per bucket, +Inf last: Prometheus's shape."""
        pairs, seen = [], 0
        for bound, count in zip((*BOUNDS, float("inf")), self.counts, strict=True):
            seen += count
            pairs.append((bound, seen))
        return pairs
