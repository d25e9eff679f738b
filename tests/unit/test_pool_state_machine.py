"""A stateful property test: random options, random operations from several threads.

Each rule runs on one of a few actor threads that keep their leases between steps, so
objects are held, handed over and retired across threads. Every step waits a bounded time:
a hang fails the test instead of stalling it. `make stress` runs it with a larger budget.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from producer_pool import PoolClosed, PoolTimeout, ProducerPool, TooManyWaiters
from tests.fakes import Resource, wait_until

STEP_BOUND = 10.0  # seconds any step may take: far above every timeout the pool is given


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


class Factory:
    """Numbered resources; can be told to fail or to be slow."""

    def __init__(self) -> None:
        self.made: list[Resource] = []
        self.failing = False
        self.slow = False
        self._lock = threading.Lock()
        self._pause = threading.Event()  # never set: `wait(t)` is a bounded, simulated delay

    def __call__(self) -> Resource:
        if self.slow:
            self._pause.wait(0.02)
        if self.failing:
            raise ConnectionError("factory down")
        with self._lock:
            resource = Resource(len(self.made))
            self.made.append(resource)
        return resource


class PoolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.factory = Factory()
        self.actors = [Actor() for _ in range(4)]
        self.failing_checks = False
        self.pool: ProducerPool[Resource] | None = None

    @initialize(
        max_size=st.integers(1, 3),
        min_size=st.integers(0, 2),
        share=st.booleans(),
        check=st.booleans(),
        max_lifetime=st.sampled_from([None, 0.05, 30.0]),
        max_idle=st.sampled_from([None, 0.05, 30.0]),
        leak_timeout=st.sampled_from([None, 0.05]),
        max_waiting=st.sampled_from([None, 0, 1, 3]),
    )
    def build(self, max_size, min_size, share, check, **options):
        self.share = share
        self.pool = ProducerPool(
            self.factory,
            max_size=max_size,
            min_size=min(min_size, max_size),
            on_exhausted="share" if share else "block",
            check=(lambda r: not self.failing_checks) if check else None,
            discard_on=(Broken,),
            acquire_timeout=0.1,
            **options,
        )

    # ------------------------------------------------------------------ operations

    def _acquire(self, actor: Actor, timeout: float | None) -> str:
        lease = self.pool.acquire(timeout=timeout)
        try:
            actor.obj = lease.__enter__()
            actor.lease = lease
            return "leased"
        except (PoolTimeout, TooManyWaiters, ConnectionError, PoolClosed) as exc:
            return type(exc).__name__

    def _release(self, actor: Actor, broken: bool) -> None:
        lease, actor.lease, actor.obj = actor.lease, None, None
        if broken:
            lease.__exit__(Broken, Broken("discard me"), None)
        else:
            lease.__exit__(None, None, None)

    @rule(which=st.integers(0, 3), timeout=st.sampled_from([None, 0, 0.02, 0.2]))
    def acquire(self, which, timeout):
        actor = self.actors[which]
        if actor.lease is None:
            event(
                f"acquire: {actor.submit(lambda: self._acquire(actor, timeout)).result(STEP_BOUND)}"
            )

    @rule(which=st.integers(0, 3), broken=st.booleans())
    def release(self, which, broken):
        actor = self.actors[which]
        if actor.lease is not None:
            actor.submit(lambda: self._release(actor, broken)).result(STEP_BOUND)

    @rule(taker=st.integers(0, 3), giver=st.integers(0, 3))
    def hand_over(self, taker, giver):
        """One actor waits while another releases: the object goes to the waiter."""
        take, give = self.actors[taker], self.actors[giver]
        if taker == giver or take.lease is not None or give.lease is None:
            return
        waiting = take.submit(lambda: self._acquire(take, 2.0))
        wait_until(lambda: waiting.done() or self.pool.stats().waiting > 0, STEP_BOUND)
        give.submit(lambda: self._release(give, False)).result(STEP_BOUND)
        event(f"hand over: {waiting.result(STEP_BOUND)}")

    @rule(failing=st.booleans(), slow=st.booleans())
    def factory_behaviour(self, failing, slow):
        self.factory.failing, self.factory.slow = failing, slow

    @rule(failing=st.booleans())
    def check_behaviour(self, failing):
        self.failing_checks = failing

    @precondition(lambda self: self.pool is not None and not self.pool.closed)
    @rule()
    def close(self):
        for actor in self.actors:
            if actor.lease is not None:
                actor.submit(lambda actor=actor: self._release(actor, False)).result(STEP_BOUND)
        self.pool.close(timeout=STEP_BOUND)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def never_leased_twice_in_block_mode(self):
        held = [actor.obj for actor in self.actors if actor.obj is not None]
        if not self.share:
            assert len({id(obj) for obj in held}) == len(held)

    @invariant()
    def within_max_size(self):
        if self.pool is not None:
            stats = self.pool.stats()
            assert stats.size <= stats.max_size
            assert stats.in_use <= sum(actor.lease is not None for actor in self.actors)

    @invariant()
    def books_balance_when_nothing_is_in_flight(self):
        if self.pool is None:
            return
        stats = self.pool.stats()
        if stats.creating == 0 and stats.destroying == 0:
            assert stats.created - stats.destroyed == stats.size

    def teardown(self):
        try:
            if self.pool is not None:
                for actor in self.actors:
                    if actor.lease is not None:
                        actor.submit(lambda a=actor: self._release(a, False)).result(STEP_BOUND)
                self.pool.close(timeout=STEP_BOUND)
                self.factory.failing = self.factory.slow = False
                wait_until(
                    lambda: (s := self.pool.stats()).creating == 0 and s.destroying == 0,
                    STEP_BOUND,
                )
                stats = self.pool.stats()
                assert (stats.size, stats.created) == (0, len(self.factory.made))
                assert stats.created == stats.destroyed
                assert [r.close_calls for r in self.factory.made] == [1] * len(self.factory.made)
        finally:
            for actor in self.actors:
                actor.stop()


#: `make stress` sets PRODUCER_POOL_STRESS=1 for a much larger budget.
_BUDGET = (
    {"max_examples": 400, "stateful_step_count": 40}
    if os.environ.get("PRODUCER_POOL_STRESS")
    else {"max_examples": 30, "stateful_step_count": 20}
)
PoolMachine.TestCase.settings = settings(
    **_BUDGET, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestPoolMachine = PoolMachine.TestCase
