"""`AsyncProducerPool[T]`: the pool for asyncio services, the twin of `ProducerPool`.

The same books (`_base.PoolBase`) and the same rules around them (`_shared.SharedPool`); only
the waits and the I/O differ. It runs on one event loop, so it needs no lock and starts no
thread: factories, checks and destroys may be coroutines, creations and destroys run as
tasks, and housekeeping is a task. The pool binds to the loop it is first used on (at
construction if a loop is running); using it from another loop raises `PoolError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from ..errors import PoolClosed, PoolError
from .books import Entry, Work
from .calls import settled
from .clock import Deadline
from .control import LeaseBase, SharedPool
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
    the loop's time (`inf`: no timeout), and `timeout` is what the caller asked for."""

    __slots__ = ("entry", "error", "expires_at", "future", "since", "timeout")

    def __init__(
        self,
        since: float,
        future: asyncio.Future[None],
        expires_at: float,
        timeout: float | None,
    ) -> None:
        self.future = future
        self.entry: Entry[T] | None = None
        self.error: BaseException | None = None
        self.since = since
        self.expires_at = expires_at
        self.timeout = timeout

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

    async def __aenter__(self) -> T:
        if self._entry is not None:  # inlined, as below: a call costs ~10 % of a lease
            raise RuntimeError("this lease is already held; call pool.acquire() again")
        pool = self._pool
        entry = pool._take_now()
        if entry is not None and not pool._plain:
            passed = pool._accept(entry) if entry.leases == 1 else True  # idle: checked
            if passed is not True and not await pool._accepted(entry, passed):
                entry = None
            elif pool._tracked:
                pool._leased(self, entry, None)
        if entry is None:
            entry = await pool._checkout_slow(self)
        self._entry = entry
        return entry.obj

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


class AsyncProducerPool(SharedPool[T]):
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
        self._tasks: set[asyncio.Task[None]] = set()  # creations, destroys, housekeeping
        self._changed = asyncio.Event()
        self._leases = set()
        self._close_errors = []
        self._orphans = []
        self._destroy_deadline = Deadline(float("inf"))
        self._housekeeper: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None  # the waiters' one timer
        self._timer_at = math.inf

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to `loop` on first use: start prewarm and housekeeping there."""
        if self._loop is loop:
            return
        if self._loop is not None:
            raise PoolError(
                f"{self.name}: used from a second event loop; a pool belongs to the loop "
                "it was first used on (create one pool per loop)"
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
        for what it left running and reports it.
        """
        if timeout is not None:
            check_option("close_timeout", timeout, label="timeout")
        budget = self._close_timeout if timeout is None else timeout
        deadline = Deadline(budget)
        if self._loop is not None:
            self._running_loop()
        idle = self._close_started(budget)
        if idle is None:
            return
        if self._housekeeper is not None:
            self._housekeeper.cancel()
        if self._timer is not None:  # close() failed every waiter
            self._timer.cancel()
        self._do(Work(idle))
        destroys_end = self._destroy_deadline  # a little before `deadline`, for the report
        while any(self._busy_locked()) and not destroys_end.expired:
            await self._changes(destroys_end)
        for task in list(self._tasks):  # a creation or destroy still running: stop it
            task.cancel()
        while any(self._busy_locked()) and not deadline.expired:
            await self._changes(deadline)
        self._close_finished(budget)

    async def __aenter__(self) -> AsyncProducerPool[T]:
        self._running_loop()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ leasing

    def _take_now(self) -> Entry[T] | None:
        """The fast path, which never awaits (on the pool's loop only): the warmest idle
        object, for the caller to check, or in share mode at max_size an extra lease on
        the least-loaded one; None sends the caller to the slow path."""
        if asyncio.get_running_loop() is not self._loop:
            return None
        if self._idle:
            return self._take_idle_locked()
        if self._share and not self._closed:  # one producer shared by every task
            return self._share_locked()
        return None

    async def _checkout_slow(self, lease: AsyncLease[T]) -> Entry[T]:
        """Take an idle or shared object, or queue for one (a creation starts if there is room)."""
        loop = self._running_loop()
        timeout = self._acquire_timeout if lease._timeout is None else lease._timeout
        expires_at = loop.time() + timeout  # inf stays inf
        began = self._now()
        while True:
            if self._closed:
                raise PoolClosed(f"{self.name}: closed")
            entry = self._take_idle_locked()
            shared = False
            if entry is None:
                entry = self._share_locked()
                shared = entry is not None
            if entry is None:
                future = loop.create_future()
                # not `_TaskWaiter[T](...)`: a subscripted class is called through `typing`
                waiter: _TaskWaiter[T] = _TaskWaiter(
                    self._now(), future, expires_at, lease._timeout
                )
                self._start_creations(self._enqueue_locked(waiter))
                if expires_at < self._timer_at:
                    self._arm_timer(loop, expires_at)
                entry = await self._wait(waiter)
            if shared or await self._accepted(entry, self._accept(entry)):
                if self._tracked:
                    self._leased(lease, entry, began)
                return entry

    async def _accepted(self, entry: Entry[T], passed: object) -> bool:
        """The verdict of `_accept(entry)`, an async check's awaited (a failing object is
        retired); the fast path awaits this only for a verdict other than True."""
        if passed is True or passed is False:
            return passed
        try:
            if await cast("Awaitable[object]", passed):
                return True
        except Exception:
            return self._reject(entry, raised=True)
        except BaseException:  # cancelled or interrupted mid-check: never leased out
            self._unlease(entry)
            raise
        return self._reject(entry, raised=False)

    async def _wait(self, waiter: _TaskWaiter[T]) -> Entry[T]:
        """Park until served; raises what the waiter was served (`PoolTimeout` included)."""
        try:
            await waiter.future
        except asyncio.CancelledError:
            self._abandoned(waiter)
            raise
        if waiter.error is not None:
            raise waiter.error
        assert waiter.entry is not None
        return waiter.entry

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
                timed_out = self._withdrawn(waiter, waiter.timeout)
                if timed_out is not None:
                    waiter.serve(None, timed_out)
        following = min((w.expires_at for w in waiters if not w.future.done()), default=math.inf)
        if following < math.inf:
            self._arm_timer(loop, following)

    # ------------------------------------------------------------------ creating, destroying

    def _notify_locked(self) -> None:
        self._changed.set()

    async def _changes(self, deadline: Deadline) -> None:
        """Wait for the next change of the books, or the deadline."""
        self._changed.clear()
        remaining = deadline.remaining()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                self._changed.wait(), None if remaining == float("inf") else remaining
            )

    def _do(self, work: Work[T]) -> None:
        """Carry out what a step decided: destroys and creations, each as a task."""
        for entry in work.destroy:
            self._spawn(self._destroy(entry))
        self._start_creations(work.create)

    def _start_creations(self, count: int) -> None:
        for _ in range(count):
            self._spawn(self._create())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _create(self) -> None:
        """Run the factory; the object goes to the longest waiter."""
        started = self._now()
        try:
            obj = await settled(self._factory())
        except asyncio.CancelledError:  # by close(), past its deadline
            self._creation_cancelled_locked()
            self._notify_locked()
            raise
        except Exception as exc:
            self._on_creation_failed(exc)
            return
        late = self._on_created(obj, started)
        if late is not None:
            await self._destroy(late)

    async def _destroy(self, entry: Entry[T]) -> None:
        """Destroy (sync or async); a failure is logged, counted and reported by close()."""
        try:
            await settled(self._call_destroy(entry.obj))
        except Exception as exc:
            self._on_destroyed(entry, exc)
        except asyncio.CancelledError:  # by close(), past its deadline
            self._on_destroyed(entry, TimeoutError("destroy cancelled at close's deadline"))
            raise
        else:
            self._on_destroyed(entry, None)

    # ------------------------------------------------------------------ housekeeping

    def _stop_housekeeping(self) -> None:
        if self._housekeeper is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop took the task with it
                self._loop.call_soon_threadsafe(self._housekeeper.cancel)


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
