"""Waiting: FIFO service, direct handoff, timeouts that never lose an object, load shedding."""

from __future__ import annotations

import threading

import pytest

from producer_pool import PoolTimeout
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


def test_acquire_timeout_is_the_default_timeout(make_pool):
    pool = make_pool(CountingFactory(), max_size=1, acquire_timeout=0)
    with pool.acquire(), pytest.raises(PoolTimeout, match="within 0s"), pool.acquire():
        pass


def test_released_object_goes_straight_to_the_oldest_waiter(make_pool):
    """In strict order, a newcomer cannot grab an object released while someone is waiting
    (by default, only while the waiter has waited less than `fifo_after`: test_contention)."""
    pool = make_pool(CountingFactory(), max_size=1, fifo_after=0)
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


def test_wait_time_is_recorded_in_stats(make_pool):
    pool = make_pool(CountingFactory(), max_size=1)
    with pool.acquire():
        (waiter,) = start_waiters(pool, 1)
    waiter.join(5)
    stats = pool.stats()
    assert stats.max_wait_seconds > 0
    assert stats.total_wait_seconds >= stats.max_wait_seconds
