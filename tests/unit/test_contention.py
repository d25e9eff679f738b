"""The contention policy: bounded barging (docs/design.md, "Contention").

A caller that has not queued (a releaser taking its object straight back, a newcomer) may
take a free object before the longest waiter, but only while that waiter has waited less
than `fifo_after`; from then on every release hands the object straight to it. Waiters stay
first come, first served among themselves, none waits while an object is free for it, and
`fifo_after=0` is the strict order.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import pytest

from producer_pool import AsyncProducerPool, ConfigError, PoolListener, PoolTimeout, ProducerPool
from producer_pool.wiring.containers import create_container
from tests.config_files import write_config
from tests.fakes import CountingFactory, wait_until

BOUND = 1.0  # fifo_after, on the fake clock
STEP = 0.25  # fake seconds per lease of the barging caller


async def _queued(pool: AsyncProducerPool[int], count: int = 1) -> list[asyncio.Task[int]]:
    """Tasks that each wait for a lease and return the object they got."""

    async def wait() -> int:
        async with pool.acquire(timeout=60) as obj:
            return obj

    tasks = [asyncio.create_task(wait()) for _ in range(count)]
    while pool.stats().waiting < count:
        await asyncio.sleep(0)
    return tasks


async def test_a_waiter_under_constant_barging_is_served_once_it_has_waited_the_bound(clock):
    """The starvation test: a task that takes its object straight back after each lease,
    yielding to the loop while it holds it, starves the waiter under unbounded barging. Here
    it keeps the object only while the waiter has waited less than `fifo_after`."""
    pool = AsyncProducerPool(CountingFactory(), max_size=1, fifo_after=BOUND)
    lease = pool.acquire()
    try:
        await lease.__aenter__()
        (waiter,) = await _queued(pool)
        barged = 0
        for _ in range(100):  # unbounded barging would never hand it over
            clock.advance(STEP)
            await lease.__aexit__(None, None, None)
            if pool.stats().in_use:  # handed over inside the release
                break
            lease = pool.acquire(timeout=0)
            await lease.__aenter__()  # taken straight back: no wait, no task switch
            barged += 1
            await asyncio.sleep(0)  # the loop turns while it holds the object
            assert not waiter.done()
        assert barged == BOUND / STEP - 1  # released at 0.25, 0.5, 0.75: taken back each time
        assert await waiter == 0
        stats = pool.stats()
        assert stats.max_wait_seconds == BOUND
        assert (stats.acquired, stats.waiting, stats.timeouts) == (1 + barged + 1, 0, 0)
    finally:
        if lease._entry is not None:  # still held when an assertion failed
            await lease.__aexit__(None, None, None)
        await pool.close(timeout=1)


async def test_an_object_nobody_takes_back_goes_to_the_waiter_on_the_next_turn(clock):
    """Barging never leaves a waiter waiting beside a free object: released within the
    bound and not taken back, it reaches the waiter as soon as the releaser yields."""
    pool = AsyncProducerPool(CountingFactory(), max_size=2, fifo_after=BOUND)
    try:
        first, second = pool.acquire(), pool.acquire()
        await first.__aenter__()
        await second.__aenter__()
        waiters = await _queued(pool, 2)
        await first.__aexit__(None, None, None)
        await second.__aexit__(None, None, None)
        assert pool.stats().idle == 2  # within the bound: offered, not handed over yet
        assert sorted(await asyncio.gather(*waiters)) == [0, 1]
        assert pool.stats().max_wait_seconds == 0  # the fake clock never moved
    finally:
        await pool.close()


async def test_a_waiter_cancelled_as_an_object_is_offered_to_it_passes_it_on(clock):
    pool = AsyncProducerPool(CountingFactory(), max_size=1, fifo_after=BOUND)
    try:
        lease = pool.acquire()
        await lease.__aenter__()
        first, second = await _queued(pool, 2)
        await lease.__aexit__(None, None, None)  # offered on the next turn...
        first.cancel()  # ...to a waiter cancelled on the same turn
        assert await second == 0
        with pytest.raises(asyncio.CancelledError):
            await first
        stats = pool.stats()
        assert (stats.idle, stats.in_use, stats.waiting) == (1, 0, 0)
    finally:
        await pool.close()


def test_a_thread_woken_for_a_free_object_claims_it(make_pool, clock):
    """Released within the bound and not taken back: the waiting thread, woken, claims it."""
    pool = make_pool(CountingFactory(), max_size=1, fifo_after=BOUND)
    got: list[int] = []
    with pool.acquire():
        waiter = threading.Thread(target=lambda: _lease_once(pool, got))
        waiter.start()
        wait_until(lambda: pool.stats().waiting == 1)
    waiter.join(10)
    assert got == [0]
    stats = pool.stats()
    assert (stats.idle, stats.waiting, stats.acquired, stats.max_wait_seconds) == (1, 0, 2, 0)


async def test_share_mode_hands_every_release_to_the_waiter(clock):
    """A caller that has not queued never waits in share mode (it shares), so nothing is
    gained by barging: a waiter (queued while the pool grows) is handed the object inside
    the release."""
    made = 0
    gate = asyncio.Event()

    async def factory() -> int:
        nonlocal made
        made += 1
        if made > 1:
            await gate.wait()  # the second creation hangs until the end
        return made - 1

    pool = AsyncProducerPool(factory, max_size=2, on_exhausted="share", fifo_after=BOUND)
    try:
        lease = pool.acquire()
        await lease.__aenter__()
        (waiter,) = await _queued(pool)  # room to grow: it waits for a creation
        await lease.__aexit__(None, None, None)
        assert (pool.stats().in_use, pool.stats().waiting) == (1, 0)
        assert await waiter == 0
    finally:
        gate.set()
        await pool.close()


async def test_waiters_stay_first_come_first_served_among_themselves(clock):
    pool = AsyncProducerPool(CountingFactory(), max_size=1, fifo_after=BOUND)
    try:
        served: list[int] = []

        async def wait(number: int) -> None:
            async with pool.acquire(timeout=60):
                served.append(number)
                await asyncio.sleep(0)

        async with pool.acquire():
            tasks = []
            for number in range(5):
                tasks.append(asyncio.create_task(wait(number)))
                while pool.stats().waiting <= number:
                    await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        assert served == [0, 1, 2, 3, 4]
    finally:
        await pool.close()


def test_a_thread_that_has_waited_the_bound_is_handed_the_next_release(make_pool, clock):
    pool = make_pool(CountingFactory(), max_size=1, fifo_after=BOUND)
    got: list[int] = []
    hold = threading.Event()
    with pool.acquire():
        waiter = threading.Thread(target=lambda: _lease_once(pool, got, hold))
        waiter.start()
        wait_until(lambda: pool.stats().waiting == 1)
        clock.advance(BOUND)
    assert pool.stats().in_use == 1  # handed over inside the release
    with pytest.raises(PoolTimeout), pool.acquire(timeout=0):
        pass
    hold.set()
    waiter.join(10)
    assert got == [0]


def test_a_thread_waiter_under_constant_barging_is_served_once_it_has_waited_the_bound(
    make_pool, clock
):
    """The starvation test for threads: the holder takes its object straight back after
    each lease and never lets go of the GIL (no forced switch: the switch interval is
    raised), so the woken waiter cannot claim it. Once the waiter has waited `fifo_after`,
    the next release is handed to it all the same."""
    pool = make_pool(CountingFactory(), max_size=1, fifo_after=BOUND)
    got: list[int] = []
    hold = threading.Event()
    lease = pool.acquire()
    lease.__enter__()
    waiter = threading.Thread(target=lambda: _lease_once(pool, got, hold))
    waiter.start()
    wait_until(lambda: pool.stats().waiting == 1)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(60)
    try:
        for _ in range(1_000):  # released within the bound: taken straight back
            lease.__exit__(None, None, None)
            lease = pool.acquire(timeout=0)
            lease.__enter__()
        clock.advance(BOUND)
        lease.__exit__(None, None, None)
        with pytest.raises(PoolTimeout), pool.acquire(timeout=0):  # the waiter's now
            pass
    finally:
        sys.setswitchinterval(interval)
        hold.set()
    waiter.join(10)
    assert got == [0]
    assert pool.stats().acquired == 1 + 1_000 + 1


def test_a_new_object_goes_to_the_waiter_it_was_created_for(make_pool, clock):
    """Never barged: a caller that took it would leave that waiter with neither an object
    nor a creation to wait for (8 threads meeting at a barrier over max_size 8 then hung)."""
    seen: list[tuple[int, int]] = []

    class Listener(PoolListener):
        def on_create(self, obj: object, seconds: float) -> None:  # after the books
            stats = pool.stats()
            seen.append((stats.idle, stats.waiting))

    pool = make_pool(CountingFactory(), max_size=2, fifo_after=BOUND, listener=Listener())
    got: list[int] = []
    hold = threading.Event()
    with pool.acquire():
        waiter = threading.Thread(target=lambda: _lease_once(pool, got, hold))
        waiter.start()
        wait_until(lambda: bool(got))
        assert seen[-1] == (0, 0)  # handed over inside the creation's step
        hold.set()
    waiter.join(10)
    assert got == [1]


def test_under_contention_nothing_is_lost_and_nobody_times_out(make_pool):
    """8 threads over 2 objects, each lease yielding the GIL while it holds: every lease
    exclusive, every acquire served within its timeout, the books balanced at the end."""
    pool = make_pool(CountingFactory(), max_size=2, fifo_after=0.001)
    with pool.acquire(), pool.acquire():
        pass  # both objects exist before the threads start, however the scheduler runs them
    holders: set[int] = set()
    clash = threading.Event()
    guard = threading.Lock()

    def work() -> None:
        for _ in range(500):
            with pool.acquire(timeout=30) as obj:
                with guard:
                    if obj in holders:
                        clash.set()
                    holders.add(obj)
                time.sleep(0)  # let another thread run while holding
                with guard:
                    holders.discard(obj)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not clash.is_set()
    stats = pool.stats()
    assert (stats.acquired, stats.timeouts, stats.waiting, stats.in_use) == (4002, 0, 0, 0)
    assert stats.idle == stats.size == 2


def test_the_config_file_sets_the_order(tmp_path):
    """`pool: fifo_after:` in the YAML reaches the pool; a bad value is one line naming it."""
    settings = create_container(overrides={"pool": {"fifo_after": 0}}).settings()
    assert settings.pool.fifo_after == 0
    path = write_config(tmp_path, "pool", "fifo_after", float("inf"))
    with pytest.raises(ConfigError, match=r"pool\.fifo_after: must be a finite number of sec"):
        create_container(path)


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "5ms", True])
def test_fifo_after_is_a_finite_number_of_seconds(value):
    """Unbounded barging (inf) would let a waiter starve until its timeout: refused."""
    with pytest.raises(ConfigError, match=r"fifo_after must be a finite number of seconds >= 0"):
        ProducerPool(CountingFactory(), fifo_after=value)


def _lease_once(pool: ProducerPool[int], got: list[int], hold: threading.Event | None = None):
    with pool.acquire(timeout=60) as obj:
        got.append(obj)
        if hold is not None:
            hold.wait(10)
