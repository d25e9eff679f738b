"""What only the asyncio pool has: cancellation, coroutine factories that hang, one loop,
housekeeping as a task. The contract it shares with the threaded pool is in
test_pool_contract.py."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest

from producer_pool import (
    AsyncProducerPool,
    PoolCloseError,
    PoolError,
    PoolListener,
    PoolTimeout,
)
from tests.fakes import CountingFactory, Resource, ResourceFactory, in_forked_child
from tests.twins import eventually

T = TypeVar("T")


@pytest.fixture
async def make_pool() -> AsyncIterator[Callable[..., AsyncProducerPool[Any]]]:
    """Build asyncio pools that are closed at the end of the test, whatever happens (the
    threaded tests' `make_pool`, for this pool)."""
    made: list[AsyncProducerPool[Any]] = []

    def make(factory: Callable[[], Any], **options: Any) -> AsyncProducerPool[Any]:
        made.append(AsyncProducerPool(factory, **options))
        return made[-1]

    yield make
    for pool in made:
        with contextlib.suppress(PoolCloseError):
            await pool.close(timeout=5)


async def test_a_task_cancelled_while_waiting_leaves_nothing_behind(make_pool):
    pool = make_pool(CountingFactory(), max_size=1)
    async with pool.acquire() as held:
        waiter = asyncio.create_task(pool.acquire(timeout=10).__aenter__())
        await eventually(lambda: pool.stats().waiting == 1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (pool.stats().waiting, pool.stats().timeouts) == (0, 0)
    async with pool.acquire(timeout=0) as again:  # the object went idle, not to the ghost
        assert again == held
    assert pool.stats().created == 1


async def test_a_task_cancelled_just_after_being_served_gives_the_object_back(make_pool):
    pool = make_pool(CountingFactory(), max_size=1)
    lease = pool.acquire()
    await lease.__aenter__()
    waiter = asyncio.create_task(pool.acquire(timeout=10).__aenter__())
    await eventually(lambda: pool.stats().waiting == 1)
    await lease.__aexit__(None, None, None)  # serves the waiter: its future is resolved...
    waiter.cancel()  # ...and the task is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await waiter
    stats = pool.stats()
    assert (stats.in_use, stats.idle, stats.waiting) == (0, 1, 0)
    assert stats.acquired == 1  # the cancelled task never got the object: not a lease


async def test_a_task_cancelled_just_after_being_served_a_shared_lease_is_not_counted(make_pool):
    """Share mode: the object created for the first waiter is shared with the second at
    once; the second is cancelled before it runs again, so only the first holds a lease."""
    gate = asyncio.Event()
    waiters: list[asyncio.Task[Any]] = []

    async def factory() -> int:
        await gate.wait()
        return 0

    class CancelSecond(PoolListener):
        def on_create(self, obj: object, seconds: float) -> None:  # after both were served
            waiters[1].cancel()

    pool = make_pool(factory, max_size=1, on_exhausted="share", listener=CancelSecond())
    leases = [pool.acquire(timeout=10) for _ in range(2)]
    waiters += [asyncio.create_task(lease.__aenter__()) for lease in leases]
    await eventually(lambda: pool.stats().waiting == 2)
    gate.set()
    assert await waiters[0] == 0
    with pytest.raises(asyncio.CancelledError):
        await waiters[1]
    stats = pool.stats()
    assert (stats.in_use, stats.acquired, stats.shared_leases, stats.waiting) == (1, 1, 0, 0)
    await leases[0].__aexit__(None, None, None)
    assert (pool.stats().in_use, pool.stats().idle) == (0, 1)


async def test_a_task_cancelled_while_holding_a_lease_returns_the_object(make_pool):
    pool = make_pool(CountingFactory(), max_size=1)
    inside = asyncio.Event()

    async def hold_forever() -> None:
        async with pool.acquire():
            inside.set()
            await asyncio.Event().wait()

    holder = asyncio.create_task(hold_forever())
    await inside.wait()
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
    assert (pool.stats().in_use, pool.stats().idle) == (0, 1)


async def test_close_is_bounded_by_a_destroy_that_hangs(make_pool):
    async def destroy(obj: int) -> None:
        await asyncio.Event().wait()

    pool = AsyncProducerPool(CountingFactory(), max_size=1, destroy=destroy)
    async with pool.acquire():
        pass
    with pytest.raises(PoolCloseError, match="1 object"):
        # A hang detector, not a timing (a loaded machine stretches any wall-clock bound):
        # a close that waited for the destroy would never return.
        await asyncio.wait_for(pool.close(timeout=0.3), 30)
    stats = pool.stats()
    assert (stats.destroying, stats.destroyed) == (0, 1)


async def test_a_close_with_no_time_left_still_runs_every_destroy_and_reports_it():
    """close(timeout=0), or a deadline that passes as the destroys are started: a destroy
    task cancelled before its first step never ran, so its producer was never closed (nor
    its messages failed) and close() reported nothing; `destroying` stayed 1 for good."""
    entered: list[int] = []

    async def destroy(obj: int) -> None:
        entered.append(obj)
        await asyncio.Event().wait()  # a flush that has not finished by the deadline

    pool = AsyncProducerPool(CountingFactory(), max_size=1, destroy=destroy)
    async with pool.acquire():
        pass
    with pytest.raises(PoolCloseError, match=r"1 object\(s\) failed .*cancelled at close"):
        await asyncio.wait_for(pool.close(timeout=0), 30)
    assert entered == [0]
    assert (pool.stats().destroying, pool.stats().destroyed) == (0, 1)


async def test_a_creation_not_yet_started_at_close_is_written_off_without_running():
    """Its object would only be destroyed: close must neither run the factory (a sync one
    blocks the loop) nor leave `creating` at 1 for good, as a creation cancelled before its
    first step did."""
    factory = CountingFactory()
    pool = AsyncProducerPool(factory, max_size=1)

    async def lease() -> None:
        async with pool.acquire():
            pass

    waiter = asyncio.create_task(lease())
    await asyncio.sleep(0)  # the waiter starts a creation, whose first step is still queued
    assert pool.stats().creating == 1
    await pool.close(timeout=0)  # in this task: wait_for's own task would let it start first
    assert factory.calls == 0
    assert (pool.stats().creating, pool.stats().size) == (0, 0)
    with pytest.raises(PoolError):  # PoolClosed
        await waiter


@pytest.mark.skipif(not hasattr(asyncio, "eager_task_factory"), reason="Python 3.12+")
async def test_close_works_under_an_eager_task_factory():
    """An eager task that ended in its first step has no coroutine left: close crashed on it
    (AttributeError on 3.13.0; a segfault on 3.12.1, CPython gh-122332)."""
    if type(asyncio.get_running_loop()).__module__.startswith("uvloop"):
        pytest.skip("uvloop does not take asyncio's eager task factory")
    asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
    try:
        pool = AsyncProducerPool(CountingFactory(), max_size=1, destroy=lambda obj: None)
        async with pool.acquire():
            pass
        await asyncio.wait_for(pool.close(timeout=5), 30)
        assert (pool.stats().destroying, pool.stats().destroyed) == (0, 1)
    finally:
        asyncio.get_running_loop().set_task_factory(None)


async def test_a_close_stalled_past_its_deadline_still_reports_the_destroy_it_cancelled(clock):
    """A loaded machine can stall the loop between the destroys' deadline and close's own
    (here the clock jumps past both at once): close must still wait for the destroy it
    cancelled to end, and raise its failure, not log it as "still running"."""
    started = [asyncio.Event(), asyncio.Event()]
    finish_second = asyncio.Event()

    async def destroy(obj: int) -> None:
        started[obj].set()
        if obj == 0:
            await asyncio.Event().wait()  # hangs until close cancels it
        await finish_second.wait()

    pool = AsyncProducerPool(CountingFactory(), max_size=2, destroy=destroy)
    async with pool.acquire(), pool.acquire():
        pass
    close = asyncio.create_task(pool.close(timeout=10))
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), 30)
    clock.advance(60)  # the stall: past the destroys' deadline and close's own
    finish_second.set()  # a change of the books wakes close, which cancels the first destroy
    with pytest.raises(PoolCloseError, match=r"1 object\(s\) failed .*cancelled at close"):
        await asyncio.wait_for(close, 30)
    assert (pool.stats().destroying, pool.stats().destroyed) == (0, 2)


async def test_a_destroy_that_swallows_close_s_cancellation_does_not_hold_close(caplog):
    """The wait for a cancellation to land is bounded: a destroy that ignores it is
    reported as still running, and close returns."""
    cancelled, release = asyncio.Event(), asyncio.Event()

    async def stubborn(obj: int) -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                cancelled.set()

    pool = AsyncProducerPool(CountingFactory(), max_size=1, destroy=stubborn)
    async with pool.acquire():
        pass
    with caplog.at_level(logging.WARNING, logger="producer_pool"):
        await asyncio.wait_for(pool.close(timeout=0.2), 30)  # a hang detector
    assert cancelled.is_set()
    assert "1 destroy(s) were still running" in caplog.text
    release.set()
    await eventually(lambda: pool.stats().destroying == 0)


async def test_a_close_cancelled_before_it_reported_leaves_the_next_close_to_wait_and_report():
    """A cancelled close() (`wait_for(pool.close(), 5)`, a lifespan cut short) leaves its
    destroys running; the next close() must wait for them and report their failures, not
    return at once because the pool is already marked closed."""
    destroy_started, release = asyncio.Event(), asyncio.Event()

    async def failing_flush(obj: int) -> None:
        destroy_started.set()
        await release.wait()
        raise RuntimeError("3 messages undelivered")

    pool = AsyncProducerPool(CountingFactory(), max_size=1, destroy=failing_flush)
    async with pool.acquire():
        pass
    first = asyncio.create_task(pool.close(timeout=30))
    await destroy_started.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    second = asyncio.create_task(pool.close(timeout=30))
    await asyncio.sleep(0)  # one step: `second` runs up to its wait for the destroy
    assert not second.done()
    release.set()
    with pytest.raises(PoolCloseError, match=r"1 object\(s\) failed .*first: 3 messages"):
        await second
    assert (pool.stats().destroying, pool.stats().destroyed) == (0, 1)
    await pool.close(timeout=1)  # the outcome was reported: nothing more to say


async def test_a_destroy_that_takes_a_deadline_is_told_close_s(make_pool, clock):
    """The pool's clock stands still (`clock`), so what the destroy is told does not depend
    on how long a loaded machine takes to start it."""
    seen = []

    async def destroy(obj: int, deadline) -> None:
        seen.append(deadline.remaining())

    pool = AsyncProducerPool(CountingFactory(), max_size=1, destroy=destroy)
    async with pool.acquire():
        pass
    await pool.close(timeout=2)
    assert len(seen) == 1 and 0 < seen[0] <= 2


async def test_sync_factory_check_and_destroy_work_too(make_pool):
    factory = ResourceFactory()
    pool = make_pool(factory, max_size=1, check=lambda r: r.number != 0)
    async with pool.acquire() as first:
        pass
    async with pool.acquire() as second:
        assert second is factory.made[1]
    assert first.close_calls == 1  # the default destroy calls close()


async def test_the_default_destroy_awaits_an_async_close(make_pool):
    closed = []

    class AsyncClient:
        async def close(self) -> None:
            closed.append(self)

    pool = AsyncProducerPool(AsyncClient, max_size=1)
    async with pool.acquire() as client:
        pass
    await pool.close()
    assert closed == [client]


async def test_housekeeping_retires_idle_objects(make_pool):
    factory = ResourceFactory()
    pool = make_pool(factory, max_size=2, max_idle=0.05)
    async with pool.acquire(), pool.acquire():
        pass
    await eventually(lambda: all(r.close_calls == 1 for r in factory.made))
    assert pool.stats().size == 0


async def test_a_leaked_lease_is_reported_with_its_stack(make_pool, caplog):
    pool = make_pool(CountingFactory(), max_size=1, leak_timeout=0.05)
    with caplog.at_level(logging.WARNING, logger="producer_pool"):
        async with pool.acquire():
            await eventually(lambda: "lease held for" in caplog.text)
    assert "test_a_leaked_lease_is_reported_with_its_stack" in caplog.text


async def _lease_once(pool: AsyncProducerPool[T]) -> T:
    async with pool.acquire() as obj:
        return obj


def test_a_pool_used_from_a_second_event_loop_is_a_clear_error():
    async def make() -> AsyncProducerPool[int]:
        return AsyncProducerPool(CountingFactory(), max_size=1)

    first_loop = asyncio.new_event_loop()
    try:
        pool = first_loop.run_until_complete(make())
        assert first_loop.run_until_complete(_lease_once(pool)) == 0
        with pytest.raises(PoolError, match="second event loop"):
            asyncio.run(_lease_once(pool))
        first_loop.run_until_complete(pool.close())
    finally:
        first_loop.close()


async def test_a_loop_in_another_thread_is_refused_while_the_pools_own_loop_runs(make_pool):
    pool = make_pool(CountingFactory(), max_size=1)
    assert await _lease_once(pool) == 0  # idle now: the fast path would hand it out
    with pytest.raises(PoolError, match="second event loop"):
        await asyncio.to_thread(asyncio.run, _lease_once(pool))
    assert (pool.stats().acquired, await _lease_once(pool)) == (1, 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_binds_its_own_loop_and_never_touches_the_parents_objects():
    """A pool used before a fork (gunicorn --preload with uvicorn workers): the child's
    first `asyncio.run` binds the pool to the child's loop, with objects of its own."""
    factory = ResourceFactory()
    parent_loop = asyncio.new_event_loop()
    try:
        pool = parent_loop.run_until_complete(_make_resource_pool(factory))
        parents = parent_loop.run_until_complete(_lease_once(pool))

        async def in_child() -> str:
            leased = await _lease_once(pool)
            await pool.close(timeout=5)
            return f"{leased is parents} {parents.close_calls} {pool.stats().created}"

        assert in_forked_child(lambda: asyncio.run(in_child())) == "False 0 1"
        assert parent_loop.run_until_complete(_lease_once(pool)) is parents
        parent_loop.run_until_complete(pool.close(timeout=5))
        assert parents.close_calls == 1
    finally:
        parent_loop.close()


async def _make_resource_pool(factory: ResourceFactory) -> AsyncProducerPool[Resource]:
    return AsyncProducerPool(factory, max_size=1)


async def test_a_pool_made_outside_a_loop_binds_to_the_first_that_uses_it(make_pool):
    pool = await asyncio.to_thread(make_pool, CountingFactory(), max_size=1, min_size=1)
    await pool.wait(timeout=5)  # prewarm starts on first use
    assert pool.stats().idle == 1


async def test_an_unclosed_pool_warns():
    pool = AsyncProducerPool(CountingFactory(), max_size=1, name="forgotten")
    async with pool.acquire():
        pass
    with pytest.warns(ResourceWarning, match="unclosed <AsyncProducerPool 'forgotten'"):
        del pool
        gc.collect()


async def test_each_waiter_times_out_at_its_own_deadline(make_pool):
    """The waiters share one timer: a later waiter with a shorter timeout re-arms it, and
    each expiry re-arms it for the next. Proven by outcomes, not durations (a loaded
    machine stretches those): a timer left unarmed never fires (the hang detector), and
    the patient waiter's deadline lies far beyond any stall of the loop, so it must still
    be waiting, then be served, when the two short waits have expired."""
    # every wait but the two short ones outlasts the test: none can expire in a stall
    pool = make_pool(CountingFactory(), max_size=1, acquire_timeout=3600)
    loop = asyncio.get_running_loop()

    async def wait_for_one(timeout: float) -> float:
        started = loop.time()  # the clock the waiters' deadlines are on
        with pytest.raises(PoolTimeout, match=f"within {timeout:g}s"):
            async with pool.acquire(timeout=timeout):
                pass
        return loop.time() - started

    async def lease_once() -> object:
        async with pool.acquire() as obj:
            return obj

    async with pool.acquire() as held:
        patient = asyncio.create_task(lease_once())
        await eventually(lambda: pool.stats().waiting == 1)
        middle = asyncio.create_task(wait_for_one(0.3))  # re-arms the timer, earlier
        await eventually(lambda: pool.stats().waiting == 2)
        hasty = asyncio.create_task(wait_for_one(0.05))  # and again
        await eventually(lambda: pool.stats().waiting == 3)
        # a hang detector: a timer left unarmed never fires
        expired, _ = await asyncio.wait({hasty, middle}, timeout=30)
        assert expired == {hasty, middle}
        assert pool.stats().waiting == 1 and not patient.done()  # not expired with them
    assert await asyncio.wait_for(patient, 30) == held  # served, not timed out
    # never before its own deadline (less a millisecond: uvloop's timers tick in ms)
    assert hasty.result() >= 0.049 and middle.result() >= 0.299
    assert pool.stats().timeouts == 2


async def test_an_object_shared_while_its_check_runs_is_retired_once_its_last_lease_ends(make_pool):
    """Share mode hands a busy object to a second task while an async check runs on it; the
    check then fails. The object must outlive the second lease, then be destroyed once,
    and never go back to the idle stack."""
    factory = ResourceFactory()
    checking, verdict = asyncio.Event(), asyncio.Event()

    async def check(resource: object) -> bool:
        checking.set()
        await verdict.wait()
        return False

    pool = make_pool(factory, max_size=1, on_exhausted="share", check=check)
    async with pool.acquire():
        pass  # object 0 is idle, and from now on checked
    lease = pool.acquire(timeout=5)
    checker = asyncio.create_task(lease.__aenter__())
    await checking.wait()
    async with pool.acquire(timeout=5) as shared:  # the object under check, shared
        assert shared is factory.made[0]
        verdict.set()
        await eventually(lambda: pool.stats().failed_checks == 1)
        assert factory.made[0].close_calls == 0  # still in use here
        assert (pool.stats().size, len(factory.made)) == (1, 1)  # max_size holds
    assert await checker is factory.made[1]  # its slot came free with the last lease
    await lease.__aexit__(None, None, None)
    await eventually(lambda: factory.made[0].close_calls == 1)
    assert (pool.stats().size, pool.stats().destroyed) == (1, 1)


async def test_a_task_cancelled_during_the_check_gives_the_object_back_unleased(make_pool):
    factory = ResourceFactory()
    checking = asyncio.Event()

    async def check(resource: object) -> bool:
        checking.set()
        await asyncio.Event().wait()  # until cancelled
        return True

    pool = make_pool(factory, max_size=1, check=check)
    async with pool.acquire():
        pass
    task = asyncio.create_task(pool.acquire(timeout=5).__aenter__())
    await checking.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = pool.stats()
    assert (stats.idle, stats.in_use, stats.acquired, stats.failed_checks) == (1, 0, 1, 0)
    assert factory.made[0].close_calls == 0


@pytest.mark.skipif(sys.version_info < (3, 11), reason="3.10 has no Task.cancelling()")
async def test_a_cancelled_error_of_the_checks_own_fails_the_check_like_any_error(make_pool):
    """A check awaiting a future its client cancelled (a producer shutting down) raises
    CancelledError though nobody cancelled the caller: it fails the check, and the caller
    gets a new object. It was raised to the caller, who looked cancelled, and to every
    later caller, since the object went back unchecked."""
    factory = ResourceFactory()

    async def check(resource: object) -> bool:
        cancelled = asyncio.get_running_loop().create_future()
        cancelled.cancel()
        return bool(await cancelled)

    pool = make_pool(factory, max_size=1, check=check)
    async with pool.acquire():
        pass  # object 0 is idle, and from now on checked
    async with pool.acquire(timeout=5) as resource:
        assert resource is factory.made[1]
    await eventually(lambda: factory.made[0].close_calls == 1)
    stats = pool.stats()
    assert (stats.failed_checks, stats.acquired, stats.created, stats.destroyed) == (1, 2, 2, 1)


async def test_one_lease_entered_by_two_waiting_tasks_is_held_by_one_and_loses_nothing(make_pool):
    """Both tasks pass the "already held" test before either is served: the second one
    served overwrote the first's object in the lease, which then never came back."""
    factory = ResourceFactory()
    pool = make_pool(factory, max_size=2)
    shared, done = pool.acquire(timeout=5), asyncio.Event()

    async def use() -> None:
        async with shared:
            await done.wait()

    holders = [pool.acquire(), pool.acquire()]
    for holder in holders:
        await holder.__aenter__()
    users = [asyncio.create_task(use()) for _ in range(2)]
    await eventually(lambda: pool.stats().waiting == 2)
    for holder in holders:
        await holder.__aexit__(None, None, None)
    # both served: one refused (done), or (the defect) both inside the block
    await eventually(lambda: any(user.done() for user in users) or pool.stats().in_use == 2)
    done.set()
    outcomes = await asyncio.gather(*users, return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, RuntimeError)]
    assert len(refused) == 1
    assert "this lease is already held" in str(refused[0])
    stats = pool.stats()
    assert (stats.in_use, stats.idle, stats.acquired) == (0, 2, 3)


def test_a_pool_whose_loop_has_ended_is_closed_from_a_new_loop_and_flushes_its_objects():
    """Used in one `asyncio.run()`, closed in a second (a test's or a CLI's teardown)."""
    factory = ResourceFactory()

    async def use() -> AsyncProducerPool[Resource]:
        pool = AsyncProducerPool(factory, max_size=2)
        async with pool.acquire(), pool.acquire():
            pass
        return pool

    pool = asyncio.run(use())

    async def acquire_again() -> None:
        async with pool.acquire():
            pass

    with pytest.raises(PoolError, match=r"second event loop.*its loop has ended: close"):
        asyncio.run(acquire_again())  # its objects belong to the old loop: not handed out
    asyncio.run(pool.close(timeout=5))
    assert [resource.close_calls for resource in factory.made] == [1, 1]
    stats = pool.stats()
    assert (stats.size, stats.destroyed, pool.closed) == (0, 2, True)


def test_a_pool_closed_after_its_loop_died_mid_lease_retires_what_was_held():
    """A loop closed without cancelling its tasks: the lease it held never comes back."""
    factory = ResourceFactory()
    loop = asyncio.new_event_loop()
    holding = asyncio.Event()

    async def hold(pool: AsyncProducerPool[Resource]) -> None:
        async with pool.acquire():
            holding.set()
            await asyncio.Event().wait()

    async def start() -> tuple[AsyncProducerPool[Resource], asyncio.Task[None]]:
        pool = AsyncProducerPool(factory, max_size=1)
        task = asyncio.create_task(hold(pool))
        await holding.wait()
        return pool, task

    pool, task = loop.run_until_complete(start())
    loop.close()  # `task` never runs again
    started = time.monotonic()
    asyncio.run(pool.close(timeout=30))
    assert time.monotonic() - started < 15  # not the whole close_timeout for a dead lease
    assert factory.made[0].close_calls == 1
    assert (pool.stats().in_use, pool.stats().size) == (0, 0)
    del task


def test_a_pool_bound_to_a_loop_still_running_refuses_to_close_from_another():
    loop = asyncio.new_event_loop()
    pool = loop.run_until_complete(_a_pool())
    try:
        with pytest.raises(PoolError, match="second event loop"):
            asyncio.run(pool.close(timeout=1))
    finally:
        loop.run_until_complete(pool.close(timeout=1))
        loop.close()


async def _a_pool() -> AsyncProducerPool[int]:
    return AsyncProducerPool(CountingFactory(), max_size=1)


async def test_a_factory_raising_its_own_cancelled_error_fails_like_any_factory_error(make_pool):
    """Not a cancellation of the pool's task (close() cancels those): a creation that
    failed, told to the waiter, after which the pool creates again."""
    calls = 0

    async def factory() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise asyncio.CancelledError  # e.g. a client library's own timeout gone wrong
        return calls

    pool = make_pool(factory, max_size=1)
    with pytest.raises(PoolError, match="creating an object was interrupted: CancelledError"):
        async with pool.acquire(timeout=2):
            pass
    async with pool.acquire(timeout=2) as obj:
        assert obj == 2
    assert (pool.stats().factory_errors, pool.stats().size) == (1, 1)


def test_a_factory_interrupted_by_ctrl_c_leaves_the_books_right():
    """KeyboardInterrupt stops the loop, as asyncio wants; the pool still works after."""
    calls = 0

    async def factory() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyboardInterrupt
        return calls

    async def take(pool: AsyncProducerPool[int]) -> int:
        async with pool.acquire(timeout=2) as obj:
            return obj

    loop = asyncio.new_event_loop()
    try:
        pool = loop.run_until_complete(_make(factory))
        first = loop.create_task(take(pool))
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(first)
        stats = pool.stats()
        assert (stats.size, stats.creating, stats.factory_errors) == (0, 0, 1)
        with pytest.raises(PoolError, match="interrupted: KeyboardInterrupt"):
            loop.run_until_complete(first)  # its waiter was told
        assert loop.run_until_complete(take(pool)) == 2
        loop.run_until_complete(pool.close(timeout=5))
    finally:
        loop.close()


async def _make(factory: Callable[[], Awaitable[int]]) -> AsyncProducerPool[int]:
    return AsyncProducerPool(factory, max_size=1)
