"""`AsyncProducerPool[T]`: the pool for asyncio services, the twin of `ProducerPool`.

The same books (`books.PoolBooks`) and the same decisions around them (`control.PoolCore`);
this module only waits. It runs on one event loop, so it needs no lock and starts no
thread: factories, checks and destroys may be coroutines, creations and destroys run as
tasks, and housekeeping is a task. The pool binds to the loop it is first used on (at
construction if a loop is running); using it from another loop raises `PoolError`, except
to close it once its loop has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from ..errors import PoolError
from .books import Entry, Work
from .calls import settled
from .clock import Deadline
from .control import LeaseBase, PoolCore, outcome
from .fork import reset_after_fork
from .options import PoolKwargs, check_option

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AsyncLease", "AsyncProducerPool"]

T = TypeVar("T")


class _NoLock:
    """The lock of a pool that lives on one event loop thread: the shared code still marks
    its critical sections, and none of them awaits, so nothing can interleave."""

    __slots__ = ()

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass

    def __enter__(self) -> bool:
        return True

    def __exit__(self, *exc_info: object) -> None:
        pass


class _TaskWaiter(Generic[T]):
    """A task parked in `acquire`, woken through a future of its loop; `expires_at` is in
    the loop's time (`inf`: no timeout), `timeout` the seconds it waits."""

    __slots__ = ("entry", "error", "expires_at", "future", "shared", "since", "timeout")

    def __init__(
        self, since: float, future: asyncio.Future[None], expires_at: float, timeout: float
    ) -> None:
        self.future = future
        self.entry: Entry[T] | None = None
        self.error: BaseException | None = None
        self.since = since
        self.expires_at = expires_at
        self.timeout = timeout
        self.shared = False

    def serve(self, entry: Entry[T] | None, error: BaseException | None) -> None:
        self.entry = entry
        self.error = error
        if not self.future.done():  # a cancelled task's future: `_abandoned` gives it back
            self.future.set_result(None)


class AsyncLease(LeaseBase[T]):
    """An exclusive claim on one pooled object for an `async with` block.

    As with `Lease`, the object is taken on entry and goes back on exit, exceptions and
    cancellation included; an exception listed in `discard_on` destroys it instead.
    """

    __slots__ = ()
    _pool: AsyncProducerPool[T]

    def __aenter__(self) -> Coroutine[Any, Any, T]:
        # Not `async def`: the pool's own coroutine is the one awaited, so the fast path
        # lives in the pool and a lease still costs one coroutine.
        return self._pool._checkout(self)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entry = self._entry
        if entry is not None:
            self._entry = None
            self._pool._checkin(entry, exc, self)


class AsyncProducerPool(PoolCore[T]):
    """A pool of objects made by `factory` (sync, or `async def`), leased with
    `async with pool.acquire() as obj:`. Options and their defaults are `ProducerPool`'s."""

    # Two overloads, so that mypy infers T from a coroutine factory as from a plain one.
    @overload
    def __init__(
        self, factory: Callable[[], Awaitable[T]], **options: Unpack[PoolKwargs]
    ) -> None: ...

    @overload
    def __init__(self, factory: Callable[[], T], **options: Unpack[PoolKwargs]) -> None: ...

    def __init__(
        self,
        factory: Callable[[], Awaitable[T]] | Callable[[], T],
        **options: Unpack[PoolKwargs],
    ) -> None:
        super().__init__(factory, options, threaded=False)
        self._lock = _NoLock()
        self._start_process_state()
        with contextlib.suppress(RuntimeError):  # no loop yet: bind to the first that uses it
            self._bind(asyncio.get_running_loop())
        reset_after_fork(self, AsyncProducerPool._after_fork_in_child)

    def _start_process_state(self) -> None:
        """The loop binding, tasks and timer of this process; a forked child binds anew."""
        self._loop: asyncio.AbstractEventLoop | None = None
        super()._start_process_state()
        self._start_loop_state()

    def _start_loop_state(self) -> None:
        """What lives on the bound loop: tasks, the change event, the timer, housekeeping."""
        #: Creations (by start time) and destroys (by entry) running as tasks.
        self._tasks: dict[asyncio.Task[None], float | Entry[T]] = {}
        self._changed = asyncio.Event()
        self._housekeeper: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None  # the waiters' one timer
        self._timer_at = math.inf
        self._offering = False  # `_hand_over` is scheduled

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to `loop` on first use: start prewarm and housekeeping there."""
        if self._loop is loop:
            return
        if self._loop is not None:
            ended = "; its loop has ended: close() it" if self._loop.is_closed() else ""
            raise PoolError(
                f"{self.name}: used from a second event loop; a pool belongs to the loop "
                f"it was first used on (create one pool per loop){ended}"
            )
        self._loop = loop
        if self._closed:
            return
        if self._needs_housekeeper:
            self._housekeeper = loop.create_task(_housekeep(weakref.ref(self), self._interval))
        self._start_creations(self._refill_locked(self._now()))

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        return loop

    def _outlive_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop this pool was bound to has ended, and `loop` closes the pool. The old
        loop's tasks will never run again: their creations and destroys are written off,
        its waiters are gone, and the objects its tasks still held are retired (destroyed
        here, by the close)."""
        lost = RuntimeError("its event loop ended before the destroy did")
        for task, running in list(self._tasks.items()):
            if task.done():
                continue
            if isinstance(running, Entry):
                self._destroy_ended(running, lost)
            else:
                self._creation_cancelled(running)
        self._waiters.clear()
        self._start_loop_state()
        self._loop = loop
        with self._lock:
            work = self._retire_leased_locked("loop ended")
        self._do(work)

    # ------------------------------------------------------------------ public API

    def acquire(self, timeout: float | None = None) -> AsyncLease[T]:
        """Return a lease; `async with pool.acquire() as obj:` holds `obj` for the block.

        `timeout` (default `acquire_timeout`; `inf` waits forever) bounds the whole wait,
        including the creation of a new object. A task cancelled while waiting or while
        holding the lease loses nothing: the object goes back to the pool.
        """
        if timeout is not None:
            check_option("acquire_timeout", timeout, label="timeout")
        return AsyncLease(self, timeout)

    async def wait(self, timeout: float = 30.0) -> None:
        """Wait until `min_size` objects exist (prewarm done); `PoolTimeout` otherwise."""
        check_option("acquire_timeout", timeout, label="timeout")
        self._running_loop()
        deadline = Deadline(timeout)
        while not self._prewarmed_locked(timeout, deadline):
            await self._changes(deadline)

    async def close(self, timeout: float | None = None) -> None:
        """Refuse new leases and destroy every object, all within `timeout` seconds.

        The same contract as `ProducerPool.close`: waiters get `PoolClosed`, leases are
        awaited until the deadline, failures raise `PoolCloseError`. Once a close has reported,
        later calls return at once; after one cancelled before it reported, the next waits
        for what it left running and reports it. A pool whose loop has ended (it was used in
        an earlier `asyncio.run()`) is closed from the running loop.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop and self._loop.is_closed():
            self._outlive_loop(loop)
        elif self._loop is not None:
            self._running_loop()
        closing = self._close_started(timeout)
        if closing is None:
            return
        if self._housekeeper is not None:
            self._housekeeper.cancel()
        if self._timer is not None:  # close() failed every waiter
            self._timer.cancel()
        self._do(Work(closing.idle))
        destroys_end = self._destroy_deadline  # a little before `deadline`, for the report
        while self._busy_locked() and not destroys_end.expired:
            await self._changes(destroys_end)
        # A destroy told its deadline ends on its own, counting what it could not deliver:
        # it gets the time to report for that before it is cancelled (cancelled at once,
        # as by close(timeout=0), it reported none of the messages it lost).
        reported_by = closing.reporting_wait()
        destroys = [task for task, work in self._tasks.items() if isinstance(work, Entry)]
        if destroys:
            await asyncio.wait(destroys, timeout=reported_by.wait_timeout())
        # A task cancelled before its first step never runs its body. A destroy must run (its
        # producer would be neither closed nor accounted for): each takes that step first,
        # told close's deadline. A creation need not (its object would only be destroyed):
        # it is written off here.
        while any(isinstance(w, Entry) and _unstarted(t) for t, w in self._tasks.items()):
            await asyncio.sleep(0)
        running = list(self._tasks.items())  # creations and destroys still running: stop them
        for task, work in running:
            if not isinstance(work, Entry) and _unstarted(task):
                self._creation_cancelled(work)
            task.cancel()
        cancelled = [task for task, _ in running]
        if cancelled:
            # Let the cancellations land, whatever the clock says: each task's next step
            # is queued already, ahead of this wait's timer, so a destroy that ends on the
            # cancellation is always reported; one that swallows it gets what is left of
            # the time to report, no more (then it is logged as still running).
            await asyncio.wait(cancelled, timeout=reported_by.wait_timeout())
        while self._busy_locked() and not closing.deadline.expired:
            await self._changes(closing.deadline)
        self._close_finished(closing)

    async def __aenter__(self) -> AsyncProducerPool[T]:
        self._running_loop()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ leasing

    async def _checkout(self, lease: AsyncLease[T]) -> T:
        """Lease an object: the warmest idle one if it passes the check, or in share mode
        at max_size another lease on the least-loaded one, else the slow path. Awaits
        nothing unless the check is async or the caller must wait."""
        if lease._entry is not None:
            raise RuntimeError("this lease is already held; call pool.acquire() again")
        entry: Entry[T] | None = None
        if asyncio.get_running_loop() is self._loop:  # else the slow path binds, or refuses
            if self._idle:
                entry = self._take_idle_locked()
                if entry is not None and not self._plain:
                    verdict = self._vet(entry)
                    if verdict is not True and (verdict is False or not await verdict.passes()):
                        entry = None
                    elif self._tracked:
                        self._leased(lease, entry, None)
            elif self._share and not self._closed:  # one producer shared by every task
                entry = self._share_locked()
                if entry is not None and self._tracked:
                    self._leased(lease, entry, None)
        if entry is None:
            entry = await self._checkout_slow(lease)
        if lease._entry is not None:  # another task entered this lease while this one awaited
            self._unlease(entry, lease)  # not counted as acquired: it goes straight back
            raise RuntimeError("this lease is already held; call pool.acquire() again")
        lease._entry = entry
        return entry.obj

    async def _checkout_slow(self, lease: AsyncLease[T]) -> Entry[T]:
        """Take an idle or shared object, or queue for one (a creation starts if there is room)."""
        loop = self._running_loop()
        timeout = self._acquire_timeout if lease._timeout is None else lease._timeout
        expires_at = loop.time() + timeout  # inf stays inf
        began = self._now()
        while True:
            entry = self._take_locked()
            if entry is None:
                # not `_TaskWaiter[T](...)`: a subscripted class is called through `typing`
                waiter: _TaskWaiter[T] = _TaskWaiter(
                    self._now(), loop.create_future(), expires_at, timeout
                )
                self._start_creations(self._enqueue_locked(waiter))
                if expires_at < self._timer_at:
                    self._arm_timer(loop, expires_at)
                entry = await self._wait(waiter)
                shared = waiter.shared
            else:
                shared = entry.leases > 1
            if not shared:  # an extra lease on a shared object is not checked
                verdict = self._vet(entry)
                if verdict is False or (verdict is not True and not await verdict.passes()):
                    continue
            if self._tracked:
                self._leased(lease, entry, began)
            return entry

    async def _wait(self, waiter: _TaskWaiter[T]) -> Entry[T]:
        """Park until served; raises what the waiter was served (`PoolTimeout` included)."""
        try:
            await waiter.future
        except asyncio.CancelledError:
            self._abandoned(waiter)
            raise
        return outcome(waiter)

    def _arm_timer(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        """One timer for all waiters, set for the earliest expiry: a timer per wait would
        cost more than the rest of a contended acquire (the loop keeps timers in a heap).
        It holds the pool weakly, so an unclosed pool can still be collected."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(at, _expire_waiters, weakref.ref(self), loop)
        self._timer_at = at

    def _expire_waiters(self, loop: asyncio.AbstractEventLoop) -> None:
        """Fail the waiters whose time is up, then re-arm for the next expiry."""
        self._timer, self._timer_at = None, math.inf
        now = loop.time()
        waiters = cast("list[_TaskWaiter[T]]", list(self._waiters))
        for waiter in waiters:
            if waiter.expires_at <= now:
                self._expire(waiter)
        following = min((w.expires_at for w in waiters if not w.future.done()), default=math.inf)
        if following < math.inf:
            self._arm_timer(loop, following)

    def _failure_of_check(self, error: BaseException) -> bool:
        """A `CancelledError` the check raised while nobody cancelled the task (a future
        its client cancelled, say) fails the check, as any error does: raised to the
        caller, it looked cancelled itself, and every later lease of that object again.
        Python 3.10 cannot tell: there, it is the caller's cancellation."""
        return isinstance(error, asyncio.CancelledError) and _cancel_requested() is False

    # ------------------------------------------------------------------ creating, destroying

    def _notify_locked(self) -> None:
        self._changed.set()

    def _offer_locked(self) -> None:
        """Hand the idle objects to the longest waiters on the loop's next turn, unless the
        task that released one takes it back first (it runs on until it awaits): a
        callback, which costs a fraction of waking a task that might find nothing."""
        if not self._offering and self._loop is not None:
            self._offering = True
            self._loop.call_soon(self._hand_over)

    def _hand_over(self) -> None:
        self._hand_idle_locked(self._now())
        self._offering = False

    async def _changes(self, deadline: Deadline) -> None:
        """Wait for the next change of the books, or the deadline."""
        self._changed.clear()
        remaining = deadline.remaining()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                self._changed.wait(), None if remaining == float("inf") else remaining
            )

    def _spawn_creation(self, started: float) -> None:
        self._spawn(self._create(started), started)

    def _spawn_destroy(self, entry: Entry[T]) -> None:
        self._spawn(self._destroy(entry), entry)

    def _spawn(self, coroutine: Coroutine[Any, Any, None], work: float | Entry[T]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coroutine)
        tasks = self._tasks
        tasks[task] = work
        # not a method of the pool: a callback the loop holds must not keep the pool alive
        task.add_done_callback(lambda done: tasks.pop(done, None))

    async def _create(self, started: float) -> None:
        """Run the factory; the object goes to the longest waiter."""
        try:
            obj = await settled(self._factory())
        except asyncio.CancelledError as exc:
            if _cancelled_from_outside(self):  # close() past its deadline, or the loop's end
                self._creation_cancelled(started)
                raise
            self._creation_failed(exc, started)  # the factory's own: a failure like others
            return
        except GeneratorExit:  # a task of a loop that ended, collected: written off already
            raise
        except BaseException as exc:
            self._creation_failed(exc, started)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise  # asyncio stops the loop with these
            return
        late = self._creation_succeeded(obj, started)
        if late is not None:
            await self._destroy(late)

    async def _destroy(self, entry: Entry[T]) -> None:
        """Destroy (sync or async); a failure is logged, counted and reported by close()."""
        try:
            await settled(self._call_destroy(entry.obj))
        except asyncio.CancelledError:  # by close(), past its deadline
            self._destroy_ended(entry, TimeoutError("destroy cancelled at close's deadline"))
            raise
        except GeneratorExit:  # a task of a loop that ended, collected: written off already
            raise
        except BaseException as exc:
            self._destroy_ended(entry, exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        else:
            self._destroy_ended(entry, None)

    # ------------------------------------------------------------------ housekeeping

    def _stop_housekeeping(self) -> None:
        if self._housekeeper is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop took the task with it
                self._loop.call_soon_threadsafe(self._housekeeper.cancel)


def _unstarted(task: asyncio.Task[None]) -> bool:
    """Whether `task` has yet to take its first step. An eager task (3.12's
    `eager_task_factory`) that ended in its first step has no coroutine left."""
    coroutine = task.get_coro()
    if task.done() or coroutine is None:
        return False
    return inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED  # type: ignore[arg-type]


def _cancel_requested() -> bool | None:
    """Whether the running task was asked to cancel, rather than handed a `CancelledError`
    by the code it awaited; None on Python 3.10, which cannot tell."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)  # Python 3.11+
    return cancelling() > 0 if cancelling is not None else None


def _cancelled_from_outside(pool: AsyncProducerPool[Any]) -> bool:
    """Whether the running task was cancelled (by close(), or as its loop ended) rather
    than handed a `CancelledError` by the factory. Python 3.10 cannot tell: there, only a
    closed pool's cancellations are taken as its own."""
    requested = _cancel_requested()
    return pool.closed if requested is None else requested


def _expire_waiters(
    pool_ref: weakref.ref[AsyncProducerPool[Any]], loop: asyncio.AbstractEventLoop
) -> None:
    pool = pool_ref()
    if pool is not None:
        pool._expire_waiters(loop)


async def _housekeep(pool_ref: weakref.ref[AsyncProducerPool[Any]], interval: float) -> None:
    """The housekeeping task; it holds the pool weakly, so an unclosed pool can be collected."""
    delay = interval
    while True:
        await asyncio.sleep(delay)
        pool = pool_ref()
        if pool is None:
            return
        delay = pool._housekeep_once()
        del pool
