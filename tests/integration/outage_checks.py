"""What every outage test proves at the end, whichever client it drives."""

from __future__ import annotations

from producer_pool import PoolCloseError, PoolStats


def assert_outage_accounted(
    closed: PoolCloseError,
    stats: PoolStats,
    *,
    sent: int,
    failed: int,
    acknowledged: set[int],
    stored: set[int],
) -> None:
    """close() reported exactly the `failed` messages, the pool counted every other one of
    the `sent` as delivered, and every `acknowledged` offset is `stored` in the topic."""
    assert closed.undelivered == failed == stats.delivery_errors
    assert stats.delivered == sent - failed
    assert acknowledged <= stored
