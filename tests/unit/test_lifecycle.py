"""Creating, checking, discarding and destroying objects; factories run outside the lock."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import weakref

import pytest

from producer_pool import AsyncProducerPool, PoolTimeout, ProducerPool
from tests.fakes import Broker, CountingFactory, Resource, ResourceFactory, wait_until


class BrokerDown(ConnectionError):
    pass


def failing_factory() -> int:
    raise BrokerDown("no broker at 127.0.0.1:9")


def test_other_exceptions_keep_the_object(make_pool):
    resources = ResourceFactory()
    pool = make_pool(resources, discard_on=(BrokerDown,))
    with pytest.raises(KeyError), pool.acquire():
        raise KeyError("business error")
    with pool.acquire() as resource:
        assert resource is resources.made[0]


def test_destroy_errors_are_logged_not_lost(make_pool, caplog):
    def destroy(obj: int) -> None:
        raise RuntimeError("close failed")

    pool = make_pool(CountingFactory(), destroy=destroy, discard_on=(ValueError,))
    with (
        caplog.at_level(logging.ERROR, "producer_pool"),
        pytest.raises(ValueError),
        pool.acquire(),
    ):
        raise ValueError
    wait_until(lambda: pool.stats().destroyed == 1)
    assert "destroying 0 failed: close failed" in caplog.text


def test_retiring_never_blocks_the_caller(make_pool):
    """A destroy that hangs (a producer draining during an outage) runs on its own thread."""
    release = threading.Event()
    pool = make_pool(CountingFactory(), destroy=lambda obj: release.wait(10), discard_on=(OSError,))
    with pytest.raises(OSError), pool.acquire():
        raise OSError("broken")
    assert pool.stats().destroying == 1  # still draining, and we are already back
    release.set()
    wait_until(lambda: pool.stats().destroyed == 1)


def test_max_lifetime_retires_objects_when_returned(make_pool, clock):
    resources = ResourceFactory()
    pool = make_pool(resources, max_lifetime=600)
    with pool.acquire():
        clock.advance(600 * 1.11)  # beyond the +10 % jitter
    assert resources.made[0].closed.wait(5)
    with pool.acquire() as resource:
        assert resource is resources.made[1]


def held(pool, count: int) -> list:
    """`count` leases entered at once (created or reused); exit them to give them back."""
    leases = [pool.acquire(timeout=5) for _ in range(count)]
    for lease in leases:
        lease.__enter__()
    return leases


def give_back(leases: list) -> None:
    for lease in leases:
        lease.__exit__(None, None, None)


def test_max_lifetime_jitter_stays_within_ten_percent(make_pool, clock):
    """Fifty objects made together all outlive 90 % of max_lifetime and none outlives 110 %."""
    resources = ResourceFactory()
    pool = make_pool(resources, max_lifetime=100, max_size=50, max_idle=None)
    leases = held(pool, 50)
    clock.advance(89.9)
    give_back(leases)
    assert pool.stats().idle == 50  # every one kept
    leases = held(pool, 50)
    clock.advance(20.2)
    give_back(leases)
    assert pool.stats().idle == 0  # every one retired on return
    wait_until(lambda: all(r.closed.is_set() for r in resources.made))
    assert len(resources.made) == 50


def test_lifetimes_are_spread_by_jitter(make_pool, clock):
    pool = make_pool(ResourceFactory(), max_lifetime=100, max_size=50, max_idle=None)
    leases = held(pool, 50)
    clock.advance(100)  # halfway through the ±10 % window: some retire, some stay
    give_back(leases)
    assert 0 < pool.stats().idle < 50  # uniform jitter: all on one side has odds 2**-49


def test_max_idle_retires_idle_objects_above_min_size_within_a_round(make_pool, clock):
    resources = ResourceFactory()
    pool = make_pool(resources, max_idle=60)
    with pool.acquire():
        pass
    clock.advance(61)
    assert resources.made[0].closed.wait(5)  # the housekeeper's next round (<= 1 s)
    with pool.acquire(timeout=5) as resource:
        assert resource is resources.made[1]


def test_reaper_retires_idle_objects_in_the_background(make_pool):
    destroyed = threading.Event()
    pool = make_pool(CountingFactory(), max_idle=0.05, destroy=lambda obj: destroyed.set())
    with pool.acquire():
        pass
    assert destroyed.wait(5)
    wait_until(lambda: pool.stats().size == 0)


def test_reaper_keeps_min_size_objects(make_pool):
    pool = make_pool(CountingFactory(), min_size=2, max_idle=0.02)
    pool.wait(timeout=5)
    with pool.acquire(), pool.acquire(), pool.acquire():
        pass
    wait_until(lambda: pool.stats().destroyed == 1)
    assert pool.stats().size == 2


def test_min_size_prewarms_in_the_background(make_pool):
    factory = CountingFactory()
    pool = make_pool(factory, min_size=3, max_size=5)
    pool.wait(timeout=5)
    stats = pool.stats()
    assert (stats.size, stats.idle, stats.created) == (3, 3, 3)


def test_prewarm_failures_are_logged_counted_and_retried(make_pool, caplog):
    attempts = CountingFactory()

    def flaky() -> int:
        if attempts() == 0:
            raise BrokerDown("not yet")
        return 1

    with caplog.at_level(logging.WARNING, "producer_pool"):
        pool = make_pool(flaky, min_size=1, max_idle=0.01)  # short interval: quick retry
        pool.wait(timeout=10)
    assert pool.stats().factory_errors == 1
    assert "creating an object failed with nobody waiting" in caplog.text


def test_wait_times_out_when_prewarm_cannot_finish(make_pool):
    pool = make_pool(failing_factory, min_size=1)
    with pytest.raises(PoolTimeout, match="0 of min_size=1"):
        pool.wait(timeout=0.05)


def test_a_leaked_lease_is_reported_with_the_acquirers_stack(make_pool):
    reported = threading.Event()

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            self.text = record.getMessage()
            reported.set()

    handler = Capture()
    logger = logging.getLogger("producer_pool")
    logger.addHandler(handler)
    try:
        pool = make_pool(CountingFactory(), leak_timeout=0.02)
        with pool.acquire():
            assert reported.wait(5)
    finally:
        logger.removeHandler(handler)
    assert "lease held for" in handler.text
    assert "test_a_leaked_lease_is_reported_with_the_acquirers_stack" in handler.text


@pytest.mark.parametrize("kind", ["threads", "asyncio"])
def test_a_pool_that_served_a_factory_failure_is_freed_without_a_collection(kind):
    """The error a waiter raises must not hold the pool: its traceback's frames once held
    the waiter, which held the error, and the pool with them, freed only by a collection
    (and a forked child that collects it finalizes the parent's producers)."""
    broker = Broker(failures={0: BrokerDown("no broker at 127.0.0.1:9")})

    async def fail_once() -> weakref.ref[AsyncProducerPool[int]]:
        pool = AsyncProducerPool(broker.make_async, max_size=1)
        with pytest.raises(BrokerDown):
            async with pool.acquire(timeout=5):
                pass
        await pool.close()
        return weakref.ref(pool)

    gc.disable()
    try:
        if kind == "threads":
            pool = ProducerPool(broker, max_size=1)
            with pytest.raises(BrokerDown), pool.acquire(timeout=5):
                pass
            pool.close()
            freed = weakref.ref(pool)
            del pool
        else:
            freed = asyncio.run(fail_once())
        assert freed() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("kind", ["threads", "asyncio"])
def test_a_failed_creation_s_half_made_producer_is_freed_while_its_error_lives(kind):
    """A factory that made a producer and then failed (its bootstrap found no broker)
    closed it, but the error's traceback kept the factory's frames and their locals, the
    producer among them. The error lives on (a caller's `except ... as exc`, a task's stored
    exception in a cycle with its frames): the closed producer was freed only by a
    collection, and a forked child that collects it (Celery prefork, gunicorn) finalizes
    the parent's librdkafka producer and crashes (seen: a segfault in the suite)."""
    made: list[weakref.ref[Resource]] = []

    def make_then_fail() -> Resource:
        producer = Resource(0)
        made.append(weakref.ref(producer))
        raise BrokerDown("no broker at 127.0.0.1:9")

    async def make_then_fail_async() -> Resource:
        await asyncio.sleep(0)
        return make_then_fail()

    async def fail_once() -> BaseException:
        pool = AsyncProducerPool(make_then_fail_async, max_size=1)
        with pytest.raises(BrokerDown) as caught:
            async with pool.acquire(timeout=5):
                pass
        await pool.close()
        return caught.value

    gc.disable()
    try:
        if kind == "threads":
            pool = ProducerPool(make_then_fail, max_size=1)
            with pytest.raises(BrokerDown) as caught, pool.acquire(timeout=5):
                pass
            pool.close()
            error = caught.value
        else:
            error = asyncio.run(fail_once())
        assert error.__traceback__ is not None  # the error lives, with its traceback
        assert made[0]() is None
    finally:
        gc.enable()
