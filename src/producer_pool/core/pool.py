"""`ProducerPool[T]`: a bounded, fair, fork-safe pool that leases client objects to threads.

The lock guards bookkeeping only (`books.PoolBooks`); what to do next is decided by the
steps of `control.PoolCore`, and this module only waits: on a lock per waiter, and on the
threads that run factories and destroys. Checks run in the caller's thread, never under the
lock, so a slow or dead broker never blocks a caller beyond its timeout, nor anyone else.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, cast

from .._moved import moved_names
from ..errors import ConfigError
from .books import HOLD_SAMPLING_MASK, Entry, Work
from .changes import Changes
from .clock import Deadline
from .control import LeaseBase, PoolCore, outcome
from .fork import close_at_child_exit, no_fork_midway, reset_after_fork
from .housekeeper import Housekeeper
from .options import OnExhausted, PoolKwargs, check_option

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["Lease", "OnExhausted", "ProducerPool"]

T = TypeVar("T")


class _ThreadWaiter(Generic[T]):
    """A caller parked in `acquire`; a pre-acquired `Lock` is the cheapest signal. It is
    served once, and may be woken before that (`nudge`) to claim an idle object; `awake`
    (under the pool's lock) keeps the signal from being released twice."""

    __slots__ = ("awake", "entry", "error", "shared", "signal", "since", "timeout")

    def __init__(self, since: float, timeout: float) -> None:
        self.signal = threading.Lock()
        self.signal.acquire()
        self.entry: Entry[T] | None = None
        self.error: BaseException | None = None
        self.since = since
        self.timeout = timeout
        self.shared = False
        self.awake = False

    def serve(self, entry: Entry[T] | None, error: BaseException | None) -> None:
        self.entry = entry
        self.error = error
        self.nudge()

    def nudge(self) -> None:
        if not self.awake:
            self.awake = True
            self.signal.release()


class Lease(LeaseBase[T]):
    """An exclusive claim on one pooled object for the duration of a `with` block.

    The object is taken on `__enter__` (not by `acquire()`), so a lease that is never
    entered holds nothing. It goes back on `__exit__`, exceptions included; an exception
    listed in the pool's `discard_on` destroys it instead.
    """

    __slots__ = ()
    _pool: ProducerPool[T]

    def __enter__(self) -> T:
        if self._entry is not None:  # inlined, as below: a call costs ~10 % of a lease
            raise RuntimeError("this lease is already held; call pool.acquire() again")
        entry = self._pool._checkout(self)
        self._entry = entry
        return entry.obj

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entry = self._entry
        if entry is not None:
            self._entry = None
            self._pool._checkin(entry, exc, self)


class ProducerPool(PoolCore[T]):
    """A pool of objects made by a zero-argument `factory`, leased with `pool.acquire()`.

    Instances share nothing: two pools never see each other's objects, so tests and
    subclasses cannot leak state. The options are `PoolKwargs`' (their defaults are the
    shipped YAML's).
    """

    def __init__(self, factory: Callable[[], T], **options: Unpack[PoolKwargs]) -> None:
        super().__init__(factory, options, threaded=True)
        self._start_process_state()
        reset_after_fork(self, ProducerPool._after_fork_in_child)
        close_at_child_exit(self, ProducerPool.close)  # a worker's os._exit runs no atexit

    def _start_process_state(self) -> None:
        """The lock, threads and timers of this process; a forked child makes its own."""
        lock = threading.Lock()
        self._lock = lock
        self._changes = Changes(lock)
        super()._start_process_state()
        self._housekeeper: Housekeeper | None = None
        if self._closed:
            return
        if self._needs_housekeeper:
            self._housekeeper = Housekeeper(self, f"producer-pool-housekeeper[{self.name}]")
            self._housekeeper.start()
        with self._lock:
            creations = self._refill_locked(self._now())
        self._start_creations(creations)

    # ------------------------------------------------------------------ public API

    def acquire(self, timeout: float | None = None) -> Lease[T]:
        """Return a lease; `with pool.acquire() as obj:` holds `obj` for the block.

        `timeout` (seconds, default `acquire_timeout`; `inf` waits forever) bounds the whole
        wait, including the creation of a new object: past it `PoolTimeout` is raised, and
        an object still being created goes to the next caller.
        """
        if timeout is not None:
            check_option("acquire_timeout", timeout, label="timeout")
        return Lease(self, timeout)

    def wait(self, timeout: float = 30.0) -> None:
        """Block until `min_size` objects exist (prewarm done); `PoolTimeout` otherwise."""
        check_option("acquire_timeout", timeout, label="timeout")
        deadline = Deadline(timeout)
        self._changes.wait_for(lambda: self._prewarmed_locked(timeout, deadline), deadline)

    def close(self, timeout: float | None = None) -> None:
        """Refuse new leases and destroy every object, all within `timeout` seconds. Destroys
        still running at their deadline get at least 0.5 s to report, even past it: so
        close(timeout=0) or a stall of the machine can take that much longer, and no loss
        goes unreported.

        Waiters get `PoolClosed`. Idle objects are destroyed in parallel while leases are
        awaited; a lease still out at the deadline is destroyed when it returns. A destroy
        that accepts a `deadline` is told to finish before the close does. Raises
        `PoolCloseError` if any destroy failed (e.g. undelivered messages). Once a close has
        reported, later calls return at once; after one interrupted before it reported
        (Ctrl-C), the next waits for what it left running and reports it.
        """
        closing = self._close_started(timeout)
        if closing is None:
            return
        if self._housekeeper is not None:
            self._housekeeper.stop(closing.deadline)
        self._do(Work(closing.idle))

        def done() -> bool:
            return not self._busy_locked()

        if not self._changes.wait_for(done, self._destroy_deadline):
            # The destroys were told to end by now: let them say how they ended, even past
            # close's deadline (leases and creations are waited for until that deadline).
            self._changes.wait_for(done, closing.deadline)
            self._changes.wait_for(lambda: not self._destroying, closing.reporting_wait())
        self._close_finished(closing)

    def __enter__(self) -> ProducerPool[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ leasing

    def _checkout(self, lease: Lease[T]) -> Entry[T]:
        """Lease an object: the warmest idle one if it passes the check, else the slow path.

        No clock is read here: lifetimes are enforced when an object comes back and idle
        time by the housekeeper, as in psycopg_pool and HikariCP, so a stale idle object can
        be handed out for at most one housekeeping round (<= 1 s, and <= a quarter of the
        shortest limit).
        """
        lock = self._lock
        lock.acquire()  # not `with`: twice the cost; try/finally is free and as safe
        try:
            idle = self._idle
            if idle:  # `_lease_locked`, inlined
                entry: Entry[T] | None = idle.pop()
                entry.leases = 1  # type: ignore[union-attr]
                acquired = self._acquired + 1
                self._acquired = acquired
                if not acquired & HOLD_SAMPLING_MASK:
                    entry.leased_at = self._now()  # type: ignore[union-attr]
            else:
                entry = None
        finally:
            lock.release()
        if entry is not None:
            if self._plain:
                return entry
            if self._vet(entry) is True:
                if self._tracked:
                    self._leased(lease, entry, None)
                return entry
        return self._checkout_slow(lease)

    def _checkout_slow(self, lease: Lease[T]) -> Entry[T]:
        """Take an idle or shared object, or queue for one (a creation starts if there is room)."""
        began = self._now()
        timeout = self._acquire_timeout if lease._timeout is None else lease._timeout
        deadline: Deadline | None = None
        yielded = False
        while True:
            waiter: _ThreadWaiter[T] | None = None
            with self._lock:
                entry = self._take_locked()
                if entry is not None:
                    shared = entry.leases > 1
                elif yielded or self._size < self._max_size:
                    waiter = _ThreadWaiter(self._now(), timeout)
                    creations = self._enqueue_locked(waiter)
            if entry is None:
                if waiter is None:
                    # Every object is leased. Parking costs a thread switch to wake, so first
                    # let a preempted holder run; whatever it releases is this caller's only
                    # within the bound of `_serve_locked`, like any caller that has not queued.
                    yielded = True
                    time.sleep(0)
                    continue
                self._start_creations(creations)
                if deadline is None:
                    deadline = Deadline(timeout)
                entry = self._wait(waiter, deadline)
                shared = waiter.shared
            if shared or self._vet(entry) is True:  # an extra lease on a shared object: not checked
                self._leased(lease, entry, began)
                return entry

    def _wait(self, waiter: _ThreadWaiter[T], deadline: Deadline) -> Entry[T]:
        """Park until served; raises what the waiter was served, or `PoolTimeout`."""
        signalled = False
        # On the main thread, in slices: a Ctrl-C is then seen within one (`SIGNAL_SLICE`).
        sliced = threading.current_thread() is threading.main_thread()
        while not signalled:
            try:
                timeout = deadline.slice_timeout() if sliced else deadline.lock_timeout()
                if not waiter.signal.acquire(timeout=timeout):
                    if sliced and not deadline.expired:
                        continue
                    self._expire(waiter)  # or it was served between the timeout and the lock
                    break
                # Served (its result is set before the signal): no lock to take, which a
                # thread of a busy pool would queue for; else woken to claim an object.
                signalled = waiter.entry is not None or waiter.error is not None
                signalled = signalled or self._woken(waiter)
            except BaseException:  # e.g. KeyboardInterrupt: give back whatever we were served
                self._abandoned(waiter)
                raise
        return outcome(waiter)

    def _woken(self, waiter: _ThreadWaiter[T]) -> bool:
        """The waiter's signal came: True if it was served, or claims an idle object it was
        woken for; False if a caller that never queued took it first (wait on, in place)."""
        with self._lock:
            if waiter.entry is None and waiter.error is None:
                waiter.awake = False
                waiter.entry = self._claim_idle_locked(waiter, self._now())
                return waiter.entry is not None
            return True

    def _async_check(self, entry: Entry[T], answer: Awaitable[object]) -> NoReturn:
        """A thread cannot await a check's answer: dropped, it left the object leased for
        good. The object goes back, and the caller is told why, in one line."""
        self._unlease(entry)
        _refuse_awaitable(self.name, "check", answer)

    def _offer_locked(self) -> None:
        """Wake the longest waiter to claim an idle object, unless it is awake already."""
        cast("_ThreadWaiter[T]", self._waiters[0]).nudge()

    # ------------------------------------------------------------------ creating, destroying

    def _notify_locked(self) -> None:
        self._changes.notify_all_locked()

    def _spawn_creation(self, started: float) -> None:
        self._spawn(self._create, started)

    def _spawn_destroy(self, entry: Entry[T]) -> None:
        self._spawn(self._destroy, entry)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        role = target.__name__.replace("_", "-")
        thread = threading.Thread(
            target=target, args=args, name=f"producer-pool{role}[{self.name}]"
        )
        thread.daemon = True
        try:
            thread.start()
        except RuntimeError:  # no thread at interpreter shutdown: do it here instead
            target(*args)

    def _create(self, started: float) -> None:
        """Run the factory (on its own thread); the object goes to the longest waiter."""
        try:
            with no_fork_midway():  # a child inherits no half-made object, nor its locks
                obj = self._factory()
            if inspect.isawaitable(obj):  # else a coroutine was leased as the object
                _refuse_awaitable(self.name, "factory", obj)
        except BaseException as exc:
            self._creation_failed(exc, started)
            return
        late = self._creation_succeeded(obj, started)
        if late is not None:
            self._destroy(late)

    def _destroy(self, entry: Entry[T]) -> None:
        """Destroy (on its own thread); a failure is logged, counted and reported by close()."""
        try:
            closing = self._call_destroy(entry.obj)
            if inspect.isawaitable(closing):  # else it closed nothing, and said nothing
                _refuse_awaitable(self.name, "destroy", closing)
        except BaseException as exc:
            self._destroy_ended(entry, exc)
        else:
            self._destroy_ended(entry, None)

    # ------------------------------------------------------------------ housekeeping

    def _stop_housekeeping(self) -> None:
        if self._housekeeper is not None:
            self._housekeeper.signal_stop()


def _refuse_awaitable(name: str, role: str, result: Awaitable[object]) -> NoReturn:
    """A factory, check or destroy returned an awaitable (an `async def` behind a lambda, a
    partial or a kit's wrapper, which the constructor's test cannot see): a thread cannot
    await it. Closed (a coroutine then warns of no "never awaited"); one line says why."""
    close = getattr(result, "close", None)
    if callable(close):
        close()
    raise ConfigError(
        f"{name}: the {role} returned an awaitable ({result!r}): ProducerPool calls it "
        "from threads; use AsyncProducerPool"
    )


__getattr__ = moved_names(__name__)  # close_object, now in core.calls
