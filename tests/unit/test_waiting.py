"""Waiting: FIFO service, direct handoff, timeouts that never lose an object, load shedding."""

from __future__ import annotations

import threading

import pytest

from producer_pool import PoolClosed, PoolError, PoolTimeout, TooManyWaiters
from tests.fakes import CountingFactory, wait_until


class Waiter(threading.Thread):
    """A thread that leases once, records what it got, and holds it until told to return it."""

    def __init__(self, pool, served: list[Waiter] | None = None, timeout=None, hold=False):
        super().__init__(daemon=True)
        self.pool, self.served, self.timeout = pool, served, timeout
        self.got: int | None = None
        self.error: BaseException | None = None
        self.give_back = threading.Event()
        if not hold:
            self.give_back.set()

    def run(self) -> None:
        try:
            with self.pool.acquire(timeout=self.timeout) as obj:
                self.got = obj
                if self.served is not None:
                    self.served.append(self)
                self.give_back.wait(10)
        except BaseException as exc:
            self.error = exc


def start_waiters(pool, count: int, **kwargs) -> list[Waiter]:
    """Start waiters one at a time, each parked before the next starts: a known queue order."""
    waiters = []
    for position in range(1, count + 1):
        waiter = Waiter(pool, **kwargs)
        waiter.start()
        wait_until(lambda n=position: pool.stats().waiting == n)
        waiters.append(waiter)
    return waiters


def test_timeout_raises_pool_timeout_naming_pool_and_sizes(make_pool):
    pool = make_pool(CountingFactory(), max_size=1, name="orders")
    with pool.acquire(), pytest.raises(PoolTimeout) as caught, pool.acquire(timeout=0.05):
        pass
    message = str(caught.value)
    assert "orders" in message and "0.05s" in message and "size=1/1" in message
    assert isinstance(caught.value, TimeoutError)
    assert pool.stats().timeouts == 1


def test_acquire_timeout_is_the_default_timeout(make_pool):
    pool = make_pool(CountingFactory(), max_size=1, acquire_timeout=0)
    with pool.acquire(), pytest.raises(PoolTimeout, match="within 0s"), pool.acquire():
        pass


def test_waiters_are_served_in_arrival_order(make_pool):
    pool = make_pool(CountingFactory(), max_size=1)
    served: list[Waiter] = []
    with pool.acquire():
        waiters = start_waiters(pool, 3, served=served, hold=True)
    for count, waiter in enumerate(waiters, start=1):
        wait_until(lambda n=count: len(served) == n)
        assert served[-1] is waiter
        assert waiter.got == 0
        waiter.give_back.set()
        waiter.join(5)
    assert served == waiters


def test_released_object_goes_straight_to_the_oldest_waiter(make_pool):
    """A newcomer cannot grab an object released while someone is waiting."""
    pool = make_pool(CountingFactory(), max_size=1)
    with pool.acquire():
        (waiter,) = start_waiters(pool, 1, hold=True)
    assert pool.stats().in_use == 1  # handed over inside the release, before the waiter runs
    with pytest.raises(PoolTimeout), pool.acquire(timeout=0):
        pass
    waiter.give_back.set()
    waiter.join(5)
    assert waiter.got == 0


def test_a_timed_out_waiter_is_never_served_and_nothing_is_lost(make_pool):
    pool = make_pool(CountingFactory(), max_size=1)
    with pool.acquire():
        impatient = Waiter(pool, timeout=0.05)
        impatient.start()
        impatient.join(5)
        (patient,) = start_waiters(pool, 1)
    patient.join(5)
    assert isinstance(impatient.error, PoolTimeout)
    assert impatient.got is None
    assert patient.got == 0
    stats = pool.stats()
    assert (stats.timeouts, stats.idle, stats.in_use, stats.waiting) == (1, 1, 0, 0)


def test_max_waiting_sheds_load_at_once(make_pool):
    pool = make_pool(CountingFactory(), max_size=1, max_waiting=1)
    with pool.acquire():
        (waiter,) = start_waiters(pool, 1)
        with pytest.raises(TooManyWaiters, match="max_waiting=1") as caught, pool.acquire():
            pass
        assert isinstance(caught.value, PoolError)
    waiter.join(5)
    assert waiter.got == 0


def test_wait_time_is_recorded_in_stats(make_pool):
    pool = make_pool(CountingFactory(), max_size=1)
    with pool.acquire():
        (waiter,) = start_waiters(pool, 1)
    waiter.join(5)
    stats = pool.stats()
    assert stats.max_wait_seconds > 0
    assert stats.total_wait_seconds >= stats.max_wait_seconds


def test_close_wakes_every_waiter_with_pool_closed(make_pool):
    pool = make_pool(CountingFactory(), max_size=1)
    lease = pool.acquire()
    lease.__enter__()
    waiters = start_waiters(pool, 2)
    closer = threading.Thread(target=pool.close, kwargs={"timeout": 10})
    closer.start()
    for waiter in waiters:
        waiter.join(5)
        assert isinstance(waiter.error, PoolClosed)
    lease.__exit__(None, None, None)
    closer.join(5)
    assert not closer.is_alive()
