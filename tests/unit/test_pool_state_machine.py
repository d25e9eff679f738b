"""A stateful property test of both pools: random options, random operations.

The threaded pool's rules run on a few actor threads that keep their leases between steps,
so objects are held, handed over and retired across threads; the asyncio pool's run as
tasks on one loop, which the machine also cancels while they wait and while they hold, and
which it may end, closing the pool from a new loop. Checks pass, fail, or are interrupted
(a `BaseException`, as Ctrl-C is); factories fail with errors and with `BaseException`s.
Every step waits a bounded time: a hang fails the test instead of stalling it. `make
stress` runs it with a larger budget.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from producer_pool import (
    AsyncProducerPool,
    PoolClosed,
    PoolError,
    PoolTimeout,
    ProducerPool,
    TooManyWaiters,
)
from tests.fakes import Resource, wait_until

STEP_BOUND = 10.0  # seconds any step may take: far above every timeout the pool is given
R = TypeVar("R")


class Broken(Exception):
    """Raised inside a lease: the pool's `discard_on`."""


class Actor:
    """A thread that runs what it is given, one thing at a time, and can hold a lease."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self.lease: Any = None
        self.obj: Resource | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            work, future = job
            try:
                future.set_result(work())
            except BaseException as exc:
                future.set_exception(exc)

    def submit(self, work: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self.jobs.put((work, future))
        return future

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(STEP_BOUND)


class Interrupted(BaseException):
    """What Ctrl-C is to a check or a factory: not an `Exception`, so not a failed check
    either; the object must go back to the pool, never stay counted in use, and a creation
    it stops must free its slot."""


#: How a factory call fails: not at all, with an error, or with a `BaseException` (an
#: interruption, or a `CancelledError` of its own: no cancellation of the pool's task).
#: A rule argument, not a draw inside the rule: hypothesis checks that the global `random`
#: is left alone during a draw, and the pools' threads use it (lifetime jitter).
FAILURES: dict[str, BaseException | None] = {
    "none": None,
    "error": ConnectionError("factory down"),
    "interrupt": Interrupted("factory interrupted"),
    "cancel": asyncio.CancelledError(),
}


class Factory:
    """Numbered resources; can be told to fail (see `FAILURES`) or to be slow (sync for the
    threaded pool, `make_async` for the asyncio pool)."""

    def __init__(self) -> None:
        self.made: list[Resource] = []
        self.failing: BaseException | None = None
        self.slow = False
        self._lock = threading.Lock()
        self._pause = threading.Event()  # never set: `wait(t)` is a bounded, simulated delay

    def __call__(self) -> Resource:
        if self.slow:
            self._pause.wait(0.02)
        return self._make()

    async def make_async(self) -> Resource:
        if self.slow:
            await asyncio.sleep(0.02)  # a simulated slow broker, not a synchronisation
        return self._make()

    def _make(self) -> Resource:
        if self.failing is not None:
            raise self.failing
        with self._lock:
            resource = Resource(len(self.made))
            self.made.append(resource)
        return resource


OPTIONS = {
    "max_size": st.integers(1, 3),
    "min_size": st.integers(0, 2),
    "share": st.booleans(),
    "check": st.booleans(),
    "max_lifetime": st.sampled_from([None, 0.05, 30.0]),
    "max_idle": st.sampled_from([None, 0.05, 30.0]),
    "leak_timeout": st.sampled_from([None, 0.05]),
    "max_waiting": st.sampled_from([None, 0, 1, 3]),
}


#: What an acquire may raise: timeouts, shed load, a factory's error or its wrapped
#: interruption (`PoolError`), a closed pool, an interrupted check.
REFUSALS = (PoolTimeout, TooManyWaiters, ConnectionError, PoolClosed, PoolError, Interrupted)


class PoolMachine(RuleBasedStateMachine):
    """The rules and invariants both pools must keep; each twin says how an operation runs
    (on actor threads, or as tasks on one event loop)."""

    def __init__(self) -> None:
        super().__init__()
        self.factory = Factory()
        self.checks = "pass"
        self.pool: Any = None
        self.share = False
        self.leased = 0  # leases the callers got: what the pool must count as acquired

    def options(self, max_size, min_size, share, check, **options) -> dict[str, Any]:
        self.share = share
        return {
            "max_size": max_size,
            "min_size": min(min_size, max_size),
            "on_exhausted": "share" if share else "block",
            "check": self.run_check if check else None,
            "discard_on": (Broken,),
            "acquire_timeout": 0.1,
            **options,
        }

    # Each twin's operations.
    def held(self) -> list[Resource]:
        raise NotImplementedError

    def holds(self, which: int) -> bool:
        raise NotImplementedError

    def acquire_on(self, which: int, timeout: float | None) -> str:
        raise NotImplementedError

    def release_on(self, which: int, broken: bool) -> None:
        raise NotImplementedError

    def hand_over_to(self, taker: int, giver: int) -> str:
        raise NotImplementedError

    def close_pool(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ operations

    @rule(which=st.integers(0, 3), timeout=st.sampled_from([None, 0, 0.02, 0.2]))
    def acquire(self, which, timeout):
        if not self.holds(which):
            event(f"acquire: {self.acquire_on(which, timeout)}")

    @rule(which=st.integers(0, 3), broken=st.booleans())
    def release(self, which, broken):
        if self.holds(which):
            self.release_on(which, broken)

    @rule(taker=st.integers(0, 3), giver=st.integers(0, 3))
    def hand_over(self, taker, giver):
        """One actor waits while another releases: the object goes to the waiter."""
        if taker != giver and not self.holds(taker) and self.holds(giver):
            event(f"hand over: {self.hand_over_to(taker, giver)}")

    @rule(failing=st.sampled_from(sorted(FAILURES)), slow=st.booleans())
    def factory_behaviour(self, failing, slow):
        self.factory.failing, self.factory.slow = FAILURES[failing], slow

    def run_check(self, resource: Resource) -> bool:
        if self.checks == "interrupt":
            raise Interrupted
        return self.checks == "pass"

    @rule(behaviour=st.sampled_from(["pass", "fail", "interrupt"]))
    def check_behaviour(self, behaviour):
        self.checks = behaviour

    @precondition(lambda self: self.pool is not None and not self.pool.closed)
    @rule()
    def close(self):
        for which in range(4):
            if self.holds(which):
                self.release_on(which, False)
        self.close_pool()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def never_leased_twice_in_block_mode(self):
        held = self.held()
        if not self.share:
            assert len({id(obj) for obj in held}) == len(held)

    @invariant()
    def within_max_size(self):
        if self.pool is not None:
            stats = self.pool.stats()
            assert stats.size <= stats.max_size
            assert stats.in_use <= len(self.held())

    @invariant()
    def only_leases_a_caller_got_are_counted(self):
        """A lease its caller never got (a failed or interrupted check, a waiter cancelled
        once served) is not counted as acquired."""
        if self.pool is not None:
            assert self.pool.stats().acquired == self.leased

    @invariant()
    def books_balance_when_nothing_is_in_flight(self):
        if self.pool is None:
            return
        stats = self.pool.stats()
        if stats.creating == 0 and stats.destroying == 0:
            assert stats.created - stats.destroyed == stats.size

    def assert_closed_books(self) -> None:
        """After the teardown's close: every object made was destroyed, exactly once."""
        stats = self.pool.stats()
        assert (stats.size, stats.created) == (0, len(self.factory.made))
        assert stats.created == stats.destroyed
        assert [r.close_calls for r in self.factory.made] == [1] * len(self.factory.made)


class ThreadedPoolMachine(PoolMachine):
    """`ProducerPool`, its operations on actor threads that keep their leases between steps,
    so objects are held, handed over and retired across threads."""

    def __init__(self) -> None:
        super().__init__()
        self.actors = [Actor() for _ in range(4)]

    @initialize(**OPTIONS)
    def build(self, **options):
        self.pool = ProducerPool(self.factory, **self.options(**options))

    def held(self) -> list[Resource]:
        return [actor.obj for actor in self.actors if actor.obj is not None]

    def holds(self, which: int) -> bool:
        return self.actors[which].lease is not None

    def _acquire(self, actor: Actor, timeout: float | None) -> str:
        lease = self.pool.acquire(timeout=timeout)
        try:
            actor.obj = lease.__enter__()
            actor.lease = lease
            self.leased += 1
            return "leased"
        except REFUSALS as exc:
            return type(exc).__name__

    def _release(self, actor: Actor, broken: bool) -> None:
        lease, actor.lease, actor.obj = actor.lease, None, None
        if broken:
            lease.__exit__(Broken, Broken("discard me"), None)
        else:
            lease.__exit__(None, None, None)

    def acquire_on(self, which: int, timeout: float | None) -> str:
        actor = self.actors[which]
        return actor.submit(lambda: self._acquire(actor, timeout)).result(STEP_BOUND)

    def release_on(self, which: int, broken: bool) -> None:
        actor = self.actors[which]
        actor.submit(lambda: self._release(actor, broken)).result(STEP_BOUND)

    def hand_over_to(self, taker: int, giver: int) -> str:
        take, give = self.actors[taker], self.actors[giver]
        waiting = take.submit(lambda: self._acquire(take, 2.0))
        wait_until(lambda: waiting.done() or self.pool.stats().waiting > 0, STEP_BOUND)
        give.submit(lambda: self._release(give, False)).result(STEP_BOUND)
        return str(waiting.result(STEP_BOUND))

    def close_pool(self) -> None:
        self.pool.close(timeout=STEP_BOUND)

    def teardown(self):
        try:
            if self.pool is not None:
                self.close()
                self.factory.failing, self.factory.slow = None, False
                wait_until(
                    lambda: (s := self.pool.stats()).creating == 0 and s.destroying == 0,
                    STEP_BOUND,
                )
                self.assert_closed_books()
        finally:
            for actor in self.actors:
                actor.stop()


class AsyncPoolMachine(PoolMachine):
    """`AsyncProducerPool` on one event loop, each operation a task; leases are kept between
    steps, and tasks are cancelled while they wait and while they hold a lease. The loop may
    end with leases held, and the pool be closed from a new one."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.leases: list[Any] = [None] * 4
        self.objs: list[Resource | None] = [None] * 4

    @initialize(**OPTIONS)
    def build(self, **options):
        settings = self.options(**options)
        if settings["check"] is not None:  # an async check, which yields: others run meanwhile
            check = settings["check"]

            async def check_async(resource: Resource) -> bool:
                await asyncio.sleep(0)
                return bool(check(resource))

            settings["check"] = check_async
        self.pool = AsyncProducerPool(self.factory.make_async, **settings)

    def _run(self, step: Coroutine[Any, Any, R]) -> R:
        """One step on the loop, bounded: a hang fails the test instead of stalling it."""
        return self.loop.run_until_complete(asyncio.wait_for(step, STEP_BOUND))

    async def _until(self, condition: Callable[[], bool]) -> None:
        while not condition():  # the loop runs the pool's tasks meanwhile
            await asyncio.sleep(0)

    def held(self) -> list[Resource]:
        return [obj for obj in self.objs if obj is not None]

    def holds(self, which: int) -> bool:
        return self.leases[which] is not None

    async def _acquire(self, which: int, timeout: float | None) -> str:
        lease = self.pool.acquire(timeout=timeout)
        try:
            self.objs[which] = await lease.__aenter__()
        except REFUSALS as exc:
            return type(exc).__name__
        self.leases[which] = lease
        self.leased += 1
        return "leased"

    async def _release(self, which: int, broken: bool) -> None:
        lease, self.leases[which], self.objs[which] = self.leases[which], None, None
        if broken:
            await lease.__aexit__(Broken, Broken("discard me"), None)
        else:
            await lease.__aexit__(None, None, None)

    def acquire_on(self, which: int, timeout: float | None) -> str:
        return self._run(self._acquire(which, timeout))

    def release_on(self, which: int, broken: bool) -> None:
        self._run(self._release(which, broken))

    def hand_over_to(self, taker: int, giver: int) -> str:
        async def hand_over() -> str:
            waiting = asyncio.ensure_future(self._acquire(taker, 2.0))
            await self._until(lambda: waiting.done() or self.pool.stats().waiting > 0)
            await self._release(giver, False)
            return await waiting

        return self._run(hand_over())

    @rule(first=st.integers(0, 3), second=st.integers(0, 3))
    def acquire_together(self, first, second):
        """Two tasks acquire at once: one's check can run while the other is served."""
        if first == second or self.holds(first) or self.holds(second):
            return

        async def both() -> list[str]:
            return list(await asyncio.gather(self._acquire(first, 0.2), self._acquire(second, 0.2)))

        event(f"acquire together: {sorted(self._run(both()))}")

    @rule(which=st.integers(0, 3))
    def cancel_a_waiter(self, which):
        """A task cancelled while it waits (or just as it is served) takes nothing with it."""
        if self.holds(which):
            return

        async def cancel() -> str:
            waiting = asyncio.ensure_future(self._acquire(which, 2.0))
            await self._until(lambda: waiting.done() or self.pool.stats().waiting > 0)
            waiting.cancel()
            try:
                return await waiting
            except asyncio.CancelledError:
                return "cancelled"

        event(f"cancel a waiter: {self._run(cancel())}")

    @rule()
    def cancel_a_holder(self):
        """A task cancelled inside its `async with` gives its object back."""

        async def cancel() -> str:
            holding = asyncio.Event()

            async def hold() -> None:
                async with self.pool.acquire(timeout=0.1):
                    self.leased += 1
                    holding.set()
                    await asyncio.Event().wait()  # until cancelled

            task = asyncio.ensure_future(hold())
            await self._until(lambda: task.done() or holding.is_set())
            in_use = self.pool.stats().in_use
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                assert self.pool.stats().in_use == in_use - 1 or self.share
                return "cancelled while holding"
            except REFUSALS as exc:
                return type(exc).__name__
            return "done"

        event(f"cancel a holder: {self._run(cancel())}")

    def close_pool(self) -> None:
        self._run(self.pool.close(timeout=STEP_BOUND))

    @precondition(lambda self: self.pool is not None and not self.pool.closed)
    @rule()
    def close_from_a_new_loop(self):
        """The loop ends (its tasks never run again) with the leases it holds still out; the
        pool is closed from a new loop, which retires them. Held leases come back later, on
        the new loop, and must change nothing."""
        self._run(self._until(lambda: (s := self.pool.stats()).creating == s.destroying == 0))
        self.loop.close()
        self.loop = asyncio.new_event_loop()
        self.close_pool()
        stats = self.pool.stats()
        assert (stats.size, stats.in_use, stats.waiting) == (0, 0, 0)

    def teardown(self):
        try:
            if self.pool is not None:
                self.close()
                self.factory.failing, self.factory.slow = None, False
                self._run(
                    self._until(
                        lambda: (s := self.pool.stats()).creating == 0 and s.destroying == 0
                    )
                )
                self.assert_closed_books()
        finally:
            self.loop.close()


#: `make stress` sets PRODUCER_POOL_STRESS=1 for a much larger budget, and the time it needs
#: (400 examples of a machine take about a minute here, beyond the suite's 60 s per test).
_STRESS = bool(os.environ.get("PRODUCER_POOL_STRESS"))
_BUDGET = (
    {"max_examples": 400, "stateful_step_count": 40}
    if _STRESS
    else {"max_examples": 30, "stateful_step_count": 20}
)
pytestmark = pytest.mark.timeout(1200 if _STRESS else 60)
for _machine in (ThreadedPoolMachine, AsyncPoolMachine):
    _machine.TestCase.settings = settings(
        **_BUDGET, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
TestThreadedPool = ThreadedPoolMachine.TestCase
TestAsyncPool = AsyncPoolMachine.TestCase
