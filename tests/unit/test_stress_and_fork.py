"""Exclusivity under heavy contention, no memory growth, and fork safety."""

from __future__ import annotations

import gc
import os
import time
import tracemalloc

import pytest

from producer_pool import DeliveryCounts, ProducerPool
from tests.fakes import CountingFactory, ResourceFactory, in_forked_child, run_together


def test_sixteen_threads_never_double_lease_three_objects(make_pool):
    factory = ResourceFactory()
    pool = make_pool(factory, max_size=3)
    violations: list[str] = []

    def worker() -> None:
        for _ in range(300):
            with pool.acquire(timeout=30) as resource:
                if resource.in_use:
                    violations.append(f"{resource} leased twice")
                resource.in_use = True
                time.sleep(0)  # yield the GIL while holding: invite an overlap
                resource.in_use = False

    errors = run_together(16, worker)
    assert errors == []
    assert violations == []
    assert len(factory.made) <= 3
    stats = pool.stats()
    assert (stats.acquired, stats.in_use, stats.waiting) == (16 * 300, 0, 0)


def test_fifty_thousand_leases_do_not_grow_memory(make_pool):
    pool = make_pool(CountingFactory(), max_size=2)

    def lease_many(count: int) -> None:
        for _ in range(count):
            with pool.acquire():
                pass

    lease_many(5_000)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        lease_many(50_000)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert growth < 16 * 1024, f"memory grew by {growth} bytes over 50k leases"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_creates_fresh_objects_and_never_touches_the_parents():
    factory = ResourceFactory()
    pool = ProducerPool(factory, max_size=2)
    with pool.acquire():
        pass  # Resource(0) idle in the parent
    lease = pool.acquire()
    held = lease.__enter__()  # Resource(0) leased across the fork

    def child() -> str:
        with pool.acquire(timeout=5) as fresh:
            got = fresh.number
        lease.__exit__(None, None, None)  # returning the parent's object: forgotten
        size = pool.stats().size
        pool.close()
        return f"{got} {size} {held.close_calls} {fresh.close_calls}"

    report = in_forked_child(child)
    # The child made Resource(1) for itself, held the parent's Resource(0) without closing it,
    # and closed only its own object.
    assert report == "1 1 0 1"
    lease.__exit__(None, None, None)
    with pool.acquire(timeout=0) as obj:
        assert obj is held  # the parent's pool is untouched
    pool.close()
    assert held.close_calls == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_child_never_waits_on_a_delivery_lock_held_at_fork():
    """A parent's I/O thread may be counting a delivery at the instant of fork."""
    counts = DeliveryCounts()
    counts.on_delivered()

    def count_in_child() -> str:
        counts.on_failed()  # would block forever on the inherited lock
        return f"{counts.delivered} {counts.failed}"

    # Holding the private lock is the one deterministic way to stage the hazard.
    with counts._lock:  # held, as by a parent's sender thread, across the fork
        report = in_forked_child(count_in_child)
    assert report == "0 1"  # the child counts its own producers only
    assert (counts.delivered, counts.failed) == (1, 0)
