"""Every wait is bounded, whatever the options: slow factories, share mode, close, infinity."""

from __future__ import annotations

import math
import os

import pytest

from producer_pool import PoolClosed, PoolTimeout, ProducerPool
from tests.fakes import (
    CountingFactory,
    GatedFactory,
    ResourceFactory,
    in_forked_child,
    lease_once,
    run_in_thread,
    run_together,
    wait_until,
)


def test_share_mode_with_leak_tracking_hands_out_a_second_lease(make_pool):
    """Leak tracking once re-took the pool lock inside share mode's locked step: a deadlock."""
    pool = make_pool(object, max_size=1, on_exhausted="share", leak_timeout=60)
    with pool.acquire() as first:
        second = run_in_thread(lambda: lease_once(pool, timeout=2))
        assert second.result(timeout=5) is first
        assert pool.stats().shared_leases == 1  # the lock is free again


def test_a_late_object_goes_to_the_next_waiter(make_pool):
    gated = GatedFactory()
    pool = make_pool(gated, max_size=1)
    with pytest.raises(PoolTimeout):
        lease_once(pool, timeout=0.05)
    patient = run_in_thread(lambda: lease_once(pool, timeout=10))
    wait_until(lambda: pool.stats().waiting == 1)
    assert pool.stats().creating == 1  # the first creation serves the second caller
    gated.release.set()
    assert patient.result(timeout=5) == 42
    assert gated.calls == 1


def test_close_is_bounded_while_prewarm_is_inside_the_factory():
    gated = GatedFactory()
    resources = ResourceFactory()

    def factory():
        gated()
        return resources()

    pool = ProducerPool(factory, min_size=1)
    try:
        assert gated.entered.wait(5)
        closing = run_in_thread(lambda: pool.close(timeout=0.2))
        closing.result(timeout=5)  # returns although the factory still hangs
        assert not gated.release.is_set()
    finally:
        gated.release.set()
    wait_until(lambda: pool.stats().destroyed == 1)
    (late,) = resources.made
    assert late.close_calls == 1  # made after close: destroyed at once
    stats = pool.stats()
    assert (stats.created, stats.destroyed, stats.size) == (1, 1, 0)


def test_an_infinite_acquire_timeout_waits_until_served(make_pool):
    pool = make_pool(CountingFactory(), max_size=1, acquire_timeout=math.inf)
    with pool.acquire():
        waiting = run_in_thread(lambda: lease_once(pool))
        wait_until(lambda: pool.stats().waiting == 1)
    assert waiting.result(timeout=5) == 0


def test_an_infinite_close_timeout_waits_for_leases():
    pool = ProducerPool(CountingFactory(), close_timeout=math.inf)
    lease = pool.acquire()
    lease.__enter__()
    closing = run_in_thread(lambda: pool.close(timeout=math.inf))
    wait_until(lambda: pool.closed)
    lease.__exit__(None, None, None)
    closing.result(timeout=5)
    assert pool.stats().destroyed == 1


def test_waiting_for_prewarm_accepts_an_infinite_timeout(make_pool):
    pool = make_pool(CountingFactory(), min_size=2)
    pool.wait(timeout=math.inf)
    assert pool.stats().idle == 2


def test_close_wakes_a_waiter_for_a_hanging_factory(make_pool):
    gated = GatedFactory()
    pool = make_pool(gated, max_size=1)
    waiting = run_in_thread(lambda: lease_once(pool, timeout=30))
    assert gated.entered.wait(5)
    wait_until(lambda: pool.stats().waiting == 1)
    pool.close(timeout=0.1)
    with pytest.raises(PoolClosed):
        waiting.result(timeout=5)
    gated.release.set()


def test_stats_add_up_after_a_busy_life(make_pool):
    """created - destroyed == size whenever nothing is in flight, through checks and retirements."""
    pool = make_pool(
        ResourceFactory(), max_size=3, check=lambda r: r.number % 3 != 1, discard_on=(OSError,)
    )

    def work() -> None:
        for n in range(200):
            try:
                with pool.acquire(timeout=10):
                    if n % 7 == 0:
                        raise OSError("broken")
            except OSError:
                pass

    assert run_together(6, work) == []
    wait_until(lambda: pool.stats().destroying == 0)
    stats = pool.stats()
    assert stats.created - stats.destroyed == stats.size
    assert stats.acquired == 6 * 200
    pool.close(timeout=5)
    stats = pool.stats()
    assert (stats.created, stats.size) == (stats.destroyed, 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_starts_with_zeroed_counters(make_pool):
    pool = make_pool(CountingFactory(), max_size=2)
    for _ in range(3):
        with pool.acquire():
            pass

    def child_stats() -> str:
        stats = pool.stats()
        return f"{stats.created} {stats.acquired} {stats.size}"

    assert in_forked_child(child_stats) == "0 0 0"
    assert pool.stats().acquired == 3
