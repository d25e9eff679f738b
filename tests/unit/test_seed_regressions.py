"""One test per defect of the class-level `KafkaProducerPool.__new__` design this replaces."""

from __future__ import annotations

import threading

import pytest

from producer_pool import Lease, PoolTimeout, ProducerPool
from tests.fakes import (
    CountingFactory,
    GatedFactory,
    Resource,
    ResourceFactory,
    run_together,
    wait_until,
)


def test_defect_1_two_threads_never_own_the_same_producer(make_pool):
    """The seed released its lock before returning, so 8 threads shared 1 producer."""
    pool = make_pool(ResourceFactory(), max_size=8)
    inside = threading.Barrier(8)
    held: list[Resource] = []

    def worker() -> None:
        with pool.acquire(timeout=10) as resource:
            held.append(resource)
            inside.wait(10)  # all 8 leases are out at once

    run_together(8, worker, timeout=10)
    assert len({id(r) for r in held}) == 8


def test_defect_2_the_size_limit_is_reached_and_never_exceeded(make_pool):
    """The seed's INSTANCE_LIMIT was never reached: it stayed at one instance."""
    factory = CountingFactory()
    pool = make_pool(factory, max_size=4, acquire_timeout=5)
    leases = [pool.acquire() for _ in range(4)]
    assert sorted(lease.__enter__() for lease in leases) == [0, 1, 2, 3]
    assert pool.stats().size == 4
    with pytest.raises(PoolTimeout):
        pool.acquire(timeout=0.01).__enter__()
    for lease in leases:
        lease.__exit__(None, None, None)
    assert factory.calls == 4


def test_defect_3_concurrent_first_acquires_create_exactly_max_size(make_pool):
    """Check-then-act on the seed's dict raced ('dictionary changed size during iteration')."""
    factory = ResourceFactory()
    pool = make_pool(factory, max_size=5)

    def worker() -> None:
        for _ in range(50):
            with pool.acquire(timeout=10):
                pass

    errors = run_together(20, worker, timeout=30)
    assert errors == []
    assert len(factory.made) <= 5
    assert pool.stats().acquired == 20 * 50


def test_defect_4_pools_and_subclasses_share_no_state(make_pool):
    """Every seed subclass shared one `_instances` dict: a pool of str handed out an int."""

    class StrPool(ProducerPool[str]):
        pass

    ints = make_pool(CountingFactory())
    strings = StrPool(lambda: "text")
    try:
        with ints.acquire() as number, strings.acquire() as text:
            assert (number, text) == (0, "text")
        assert ints.stats().size == strings.stats().size == 1
    finally:
        strings.close()


def test_defect_5_acquire_returns_a_lease_and_falsy_objects_are_reused(make_pool):
    """The seed's `__new__` returned a producer, and a falsy one made the pool grow forever."""
    factory = CountingFactory()
    pool = make_pool(factory, max_size=5)
    assert isinstance(pool.acquire(), Lease)
    for _ in range(10):
        with pool.acquire() as obj:
            assert obj == 0
    assert factory.calls == 1


def test_defect_6_close_destroys_every_producer():
    """The seed had no close at all: producers were never flushed or closed."""
    factory = ResourceFactory()
    pool = ProducerPool(factory, max_size=3)
    with pool.acquire(), pool.acquire(), pool.acquire():
        pass
    pool.close()
    assert [r.close_calls for r in factory.made] == [1, 1, 1]


def test_defect_7_a_hanging_factory_blocks_only_its_own_caller(make_pool):
    """The seed created producers under a global lock: a dead broker blocked every caller."""
    gated = GatedFactory()
    objects = iter([1])

    def factory() -> int:
        return next(objects, None) or gated()

    pool = make_pool(factory, max_size=2)
    with pool.acquire():
        pass  # one idle object now exists
    with pool.acquire() as obj:
        assert obj == 1
        with pytest.raises(PoolTimeout):  # the creation it starts hangs: the caller does not
            pool.acquire(timeout=0.05).__enter__()
        assert gated.entered.wait(5)
        assert pool.stats().size == 2  # stats do not wait for the factory either
    with pool.acquire(timeout=0) as obj:  # nor does anyone taking an idle object
        assert obj == 1
    gated.release.set()
    wait_until(lambda: pool.stats().idle == 2)  # the late object went to the idle set
