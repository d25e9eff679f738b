"""`ProducerPool[T]`: a bounded, fair, fork-safe pool that leases client objects to threads.

The lock guards bookkeeping only (`_base.PoolBase`). Factories and destroys run on their own
short-lived threads and checks run in the caller's thread, never under the lock, so a slow or
dead broker never blocks a caller beyond its timeout, nor anyone else.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from itertools import count
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

from . import _clock
from ._base import Entry, PoolBase, Work
from ._clock import Deadline
from ._fork import reset_after_fork
from ._housekeeper import Housekeeper
from ._options import DEFAULTS, check_option, check_options, housekeeping_interval
from .errors import PoolClosed, PoolCloseError, PoolTimeout
from .stats import DeliveryCounts, PoolStats

__all__ = ["Lease", "OnExhausted", "ProducerPool", "close_object"]

T = TypeVar("T")
OnExhausted = Literal["block", "share"]

logger = logging.getLogger("producer_pool")

_pool_numbers = count(1)
#: Share of a close's budget kept back so that destroys end before close() reports them.
_CLOSE_REPORTING_SHARE = 0.1
_CLOSE_REPORTING_MAX = 0.5


class _ThreadWaiter(Generic[T]):
    """A caller parked in `acquire`; a pre-acquired `Lock` is the cheapest one-shot signal."""

    __slots__ = ("entry", "error", "signal", "since")

    def __init__(self, since: float) -> None:
        self.signal = threading.Lock()
        self.signal.acquire()
        self.entry: Entry[T] | None = None
        self.error: BaseException | None = None
        self.since = since

    def serve(self, entry: Entry[T] | None, error: BaseException | None) -> None:
        self.entry = entry
        self.error = error
        self.signal.release()


class Lease(Generic[T]):
    """An exclusive claim on one pooled object for the duration of a `with` block.

    The object is taken on `__enter__` (not by `acquire()`), so a lease that is never
    entered holds nothing. It goes back on `__exit__`, exceptions included; an exception
    listed in the pool's `discard_on` destroys it instead.
    """

    __slots__ = ("_acquired_at", "_entry", "_pool", "_stack", "_timeout")
    _acquired_at: float  # set, with _stack, only when the pool tracks leaks
    _stack: str

    def __init__(self, pool: ProducerPool[T], timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._entry: Entry[T] | None = None

    def __enter__(self) -> T:
        if self._entry is not None:
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

    def __repr__(self) -> str:
        held = "not held" if self._entry is None else f"holding {self._entry.obj!r}"
        return f"<Lease {held} from {self._pool!r}>"


class ProducerPool(PoolBase[T]):
    """A pool of objects made by a zero-argument `factory`, leased with `pool.acquire()`.

    Instances share nothing: two pools never see each other's objects, so tests and
    subclasses cannot leak state. The defaults are the shipped YAML's; see the README for
    every option's meaning.
    """

    def __init__(
        self,
        factory: Callable[[], T],
        *,
        max_size: int = DEFAULTS["max_size"],
        min_size: int = DEFAULTS["min_size"],
        acquire_timeout: float = DEFAULTS["acquire_timeout"],
        max_waiting: int | None = DEFAULTS["max_waiting"],
        max_lifetime: float | None = DEFAULTS["max_lifetime"],
        max_idle: float | None = DEFAULTS["max_idle"],
        check: Callable[[T], bool] | None = None,
        destroy: Callable[..., object] | None = None,
        discard_on: tuple[type[BaseException], ...] = (),
        on_exhausted: OnExhausted = DEFAULTS["on_exhausted"],
        leak_timeout: float | None = DEFAULTS["leak_timeout"],
        close_timeout: float = DEFAULTS["close_timeout"],
        deliveries: DeliveryCounts | None = None,
        name: str | None = None,
    ) -> None:
        check_options(
            {
                "factory": factory,
                "max_size": max_size,
                "min_size": min_size,
                "acquire_timeout": acquire_timeout,
                "max_waiting": max_waiting,
                "max_lifetime": max_lifetime,
                "max_idle": max_idle,
                "check": check,
                "destroy": destroy,
                "discard_on": discard_on,
                "on_exhausted": on_exhausted,
                "leak_timeout": leak_timeout,
                "close_timeout": close_timeout,
                "name": name,
            }
        )
        super().__init__(
            name=name if name is not None else f"pool-{next(_pool_numbers)}",
            max_size=max_size,
            min_size=min_size,
            max_waiting=max_waiting,
            max_lifetime=max_lifetime,
            max_idle=max_idle,
            share=on_exhausted == "share",
            deliveries=deliveries,
        )
        self._factory = factory
        self._acquire_timeout = float(acquire_timeout)
        self._close_timeout = float(close_timeout)
        self._check = check
        self._destroy_fn: Callable[..., object] = destroy if destroy is not None else close_object
        self._destroy_takes_deadline = _takes_deadline(self._destroy_fn)
        self._discard_on = tuple(discard_on)
        self._leak_timeout = leak_timeout
        #: Objects can go stale: the hot path reads the clock only then.
        self._timed = max_lifetime is not None or max_idle is not None
        #: The pool's one clock, bound once (tests that drive the clock patch it before).
        self._now = _clock.monotonic
        #: No check and no leak tracking: an idle object is handed out at once.
        self._plain = check is None and leak_timeout is None
        self._needs_housekeeper = self._timed or leak_timeout is not None or min_size > 0
        self._interval = housekeeping_interval(max_lifetime, max_idle, leak_timeout)
        self._start_process_state()
        reset_after_fork(self, ProducerPool._after_fork_in_child)

    def _start_process_state(self) -> None:
        """The lock, threads and timers of this process; a forked child makes its own."""
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._leases: set[Lease[T]] = set()  # held leases, for leak reports
        self._close_errors: list[BaseException] = []
        self._orphans: list[Entry[T]] = []  # the parent's objects, after a fork
        self._destroy_deadline = Deadline(float("inf"))  # close() brings it forward
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

    def stats(self) -> PoolStats:
        """A consistent snapshot of gauges and counters."""
        with self._lock:
            return self._stats_locked()

    @property
    def closed(self) -> bool:
        return self._closed

    def wait(self, timeout: float = 30.0) -> None:
        """Block until `min_size` objects exist (prewarm done); `PoolTimeout` otherwise."""
        check_option("acquire_timeout", timeout, label="timeout")
        deadline = Deadline(timeout)
        with self._lock:
            while len(self._entries) < self._min_size:
                if self._closed:
                    raise PoolClosed(f"{self.name}: closed while waiting for prewarm")
                if deadline.expired:
                    raise PoolTimeout(
                        f"{self.name}: {len(self._entries)} of min_size={self._min_size} "
                        f"objects ready after {timeout:g}s (factory_errors={self._factory_errors})"
                    )
                self._changed.wait(deadline.wait_timeout())

    def close(self, timeout: float | None = None) -> None:
        """Refuse new leases and destroy every object, all within `timeout` seconds.

        Waiters get `PoolClosed`. Idle objects are destroyed in parallel while leases are
        awaited; a lease still out at the deadline is destroyed when it returns. A destroy
        that accepts a `deadline` is told to finish before the close does. Raises
        `PoolCloseError` if any destroy failed (e.g. undelivered messages). Idempotent.
        """
        if timeout is not None:
            check_option("close_timeout", timeout, label="timeout")
        budget = self._close_timeout if timeout is None else timeout
        deadline = Deadline(budget)
        reporting = min(_CLOSE_REPORTING_MAX, budget * _CLOSE_REPORTING_SHARE)
        with self._lock:
            if self._closed:
                return
            idle = self._close_locked(lambda: PoolClosed(f"{self.name}: closed while waiting"))
            self._destroy_deadline.bring_forward(Deadline(budget - reporting))
            self._changed.notify_all()
        if self._housekeeper is not None:
            self._housekeeper.stop(deadline)
        self._do(Work(idle))
        with self._lock:
            while any(self._busy_locked()) and not deadline.expired:
                self._changed.wait(deadline.wait_timeout())
            leased, creating, destroying = self._busy_locked()
            errors, self._close_errors = self._close_errors, []
        if leased:
            logger.warning(
                "%s: %d lease(s) still out after %gs; each object is destroyed when returned",
                self.name,
                leased,
                budget,
            )
        if creating or destroying:
            logger.warning(
                "%s: after %gs, %d creation(s) and %d destroy(s) were still running",
                self.name,
                budget,
                creating,
                destroying,
            )
        if self._deliveries is not None:  # every failure of the pool's life, counted once
            undelivered = self._deliveries.failed
        else:
            undelivered = sum(getattr(error, "undelivered", 0) for error in errors)
        if errors or undelivered:
            raise PoolCloseError(
                f"{self.name}: "
                + (f"{len(errors)} object(s) failed to close cleanly; " if errors else "")
                + (f"{undelivered} message(s) undelivered" if undelivered else "")
                + (f": {errors[0]}" if errors else ""),
                undelivered=undelivered,
                errors=errors,
            ) from (errors[0] if errors else None)

    def __enter__(self) -> ProducerPool[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return (
            f"<ProducerPool {self.name!r} size={self._size}/{self._max_size} "
            f"idle={len(self._idle)} in_use={self._in_use_locked()} "
            f"waiting={len(self._waiters)}{state}>"
        )

    def __del__(self) -> None:
        if getattr(self, "_closed", True):
            return
        housekeeper = getattr(self, "_housekeeper", None)
        if housekeeper is not None:
            housekeeper.signal_stop()
        warnings.warn(
            f"unclosed {self!r}; call close()", ResourceWarning, stacklevel=1, source=self
        )

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
            if idle:
                entry: Entry[T] | None = idle.pop()
                entry.leases = 1  # type: ignore[union-attr]
                self._acquired += 1
            else:
                entry = None
        finally:
            lock.release()
        if entry is not None:
            if self._plain:
                return entry
            if self._accept(entry):
                if self._leak_timeout is not None:
                    self._track(lease)
                return entry
        return self._checkout_slow(lease)

    def _checkout_slow(self, lease: Lease[T]) -> Entry[T]:
        """Take an idle or shared object, or queue for one (a creation starts if there is room)."""
        deadline: Deadline | None = None
        yielded = False
        while True:
            now = self._now()
            waiter: _ThreadWaiter[T] | None = None
            creations = 0
            with self._lock:
                if self._closed:
                    raise PoolClosed(f"{self.name}: closed")
                entry = self._take_idle_locked()
                shared = False
                if entry is None:
                    entry = self._share_locked()
                    shared = entry is not None
                if entry is None and (yielded or self._size < self._max_size):
                    waiter = _ThreadWaiter(now)
                    creations = self._enqueue_locked(waiter)
            if entry is not None:
                if shared or self._accept(entry):
                    self._track(lease)
                    return entry
                continue
            if waiter is None:
                # Every object is leased. Parking makes every later release a thread switch
                # (a convoy), so first let a preempted holder run; queued waiters still come
                # first, since idle objects exist only when nobody is queued.
                yielded = True
                time.sleep(0)
                continue
            self._start_creations(creations)
            if deadline is None:
                timeout = self._acquire_timeout if lease._timeout is None else lease._timeout
                deadline = Deadline(timeout)
            entry = self._wait(waiter, deadline, lease._timeout)
            if self._accept(entry):
                self._track(lease)
                return entry

    def _accept(self, entry: Entry[T]) -> bool:
        """Run the check on a reused candidate, outside the lock; a failing one is retired."""
        check = self._check
        if check is None:
            return True
        if entry.fresh:  # a new object is not checked; from its second lease on, it is
            entry.fresh = False
            return True
        try:
            if check(entry.obj):
                return True
        except Exception:
            logger.warning("%s: check raised; replacing the object", self.name, exc_info=True)
        with self._lock:
            work = self._reject_locked(entry)
        self._do(work)
        return False

    def _wait(
        self, waiter: _ThreadWaiter[T], deadline: Deadline, timeout: float | None
    ) -> Entry[T]:
        """Park until served; raises what the waiter was served, or `PoolTimeout`."""
        try:
            served = waiter.signal.acquire(timeout=deadline.lock_timeout())
        except BaseException:  # e.g. KeyboardInterrupt: give back whatever we were served
            self._abandon(waiter)
            raise
        if not served:
            with self._lock:
                if self._withdraw_locked(waiter, self._now()):
                    raise PoolTimeout(
                        f"{self.name}: no object available within "
                        f"{self._acquire_timeout if timeout is None else timeout:g}s "
                        f"({self._describe_locked()})"
                    )
            # Served between the timeout and taking the lock: the object is ours.
        if waiter.error is not None:
            raise waiter.error
        assert waiter.entry is not None
        return waiter.entry

    def _abandon(self, waiter: _ThreadWaiter[T]) -> None:
        with self._lock:
            if self._withdraw_locked(waiter, self._now()):
                return
        if waiter.entry is not None:
            self._checkin(waiter.entry, None, None)

    def _track(self, lease: Lease[T]) -> None:
        """Remember a lease and where it was taken, for the leak report (if configured)."""
        if self._leak_timeout is None:
            return
        lease._acquired_at = self._now()
        lease._stack = "".join(traceback.format_stack(limit=16)[:-3])
        with self._lock:
            self._leases.add(lease)

    def _checkin(self, entry: Entry[T], exc: BaseException | None, lease: Lease[T] | None) -> None:
        """A lease ends: the object goes idle, to the oldest waiter, or is retired."""
        now = self._now() if self._timed else 0.0
        lock = self._lock
        lock.acquire()
        try:
            if self._leak_timeout is not None:
                self._leases.discard(lease)
            if (
                exc is None
                and entry.leases == 1
                and not self._waiters
                and now < entry.expires_at  # -inf once broken
                and entry.generation == self._open_generation
            ):  # the common case, inlined: exclusive, healthy, nobody waiting, pool open
                entry.leases = 0
                entry.returned_at = now
                self._idle.append(entry)
                return
            broken = exc is not None and isinstance(exc, self._discard_on)
            work = self._release_locked(entry, broken, now if self._timed else self._now())
            self._changed.notify_all()
        finally:
            lock.release()
        if work is not None:
            self._do(work)

    # ------------------------------------------------------------------ creating, destroying

    def _do(self, work: Work[T]) -> None:
        """Carry out what a locked step decided: destroys and creations, each on a thread."""
        for entry in work.destroy:
            self._spawn(self._destroy, entry)
        self._start_creations(work.create)

    def _start_creations(self, count: int) -> None:
        for _ in range(count):
            self._spawn(self._create)

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

    def _create(self) -> None:
        """Run the factory (on its own thread); the object goes to the longest waiter."""
        try:
            obj = self._factory()
        except BaseException as exc:
            now = self._now()
            with self._lock:
                delivered, creations = self._creation_failed_locked(exc, now)
                retry_in = self._retry_at - now
                self._changed.notify_all()
            if not delivered:
                logger.warning(
                    "%s: creating an object failed with nobody waiting for it; "
                    "prewarm retries in %.1fs",
                    self.name,
                    retry_in,
                    exc_info=exc,
                )
            self._start_creations(creations)
            return
        now = self._now()
        entry = Entry(obj, now, self._max_lifetime, self._generation)
        with self._lock:
            live = self._created_locked(entry, now)
            self._changed.notify_all()
        if not live:
            self._destroy(entry)  # made after close: destroyed at once, counted both ways

    def _destroy(self, entry: Entry[T]) -> None:
        """Destroy (on its own thread); a failure is logged, counted and reported by close()."""
        error: BaseException | None = None
        try:
            if self._destroy_takes_deadline:
                self._destroy_fn(entry.obj, deadline=self._destroy_deadline)
            else:
                self._destroy_fn(entry.obj)
        except Exception as exc:
            logger.error("%s: destroying %r failed: %s", self.name, entry.obj, exc, exc_info=True)
            error = exc
        with self._lock:
            self._destroyed_locked()
            if error is not None and self._closed:
                self._close_errors.append(error)
            self._changed.notify_all()

    def _busy_locked(self) -> tuple[int, int, int]:
        """What close() waits for: leases out, creations and destroys running."""
        return self._in_use_locked(), self._creating, self._destroying

    # ------------------------------------------------------------------ housekeeping

    def _housekeep_once(self) -> float:
        """Retire stale idle objects, refill to `min_size`, report leaks; return the delay."""
        now = self._now()
        with self._lock:
            if self._closed:
                return self._interval
            work = self._expired_idle_locked(now)
            work.create += self._refill_locked(now)
            leaked = self._leaked_locked(now)
        self._do(work)
        for lease in leaked:
            logger.warning(
                "%s: lease held for %.1fs (leak_timeout=%gs); acquired at:\n%s",
                self.name,
                now - lease._acquired_at,
                self._leak_timeout,
                lease._stack,
            )
        return self._interval

    def _leaked_locked(self, now: float) -> list[Lease[T]]:
        if self._leak_timeout is None:
            return []
        leaked = [lease for lease in self._leases if now - lease._acquired_at > self._leak_timeout]
        self._leases.difference_update(leaked)  # report each lease once
        return leaked

    def _after_fork_in_child(self) -> None:
        """Forget the parent's objects: their sockets and threads belong to the parent."""
        orphans = [*self._orphans, *self._entries]
        closed = self._closed
        self._reset_books(self._generation + 1)
        if closed:
            self._closed = True
            self._open_generation = -1
        self._start_process_state()
        # Keep them referenced: a finalizer closing a producer would shut the parent's sockets.
        self._orphans = orphans


def _takes_deadline(destroy: Callable[..., object]) -> bool:
    """Whether `destroy` accepts `deadline=`, so close() can bound it."""
    try:
        return "deadline" in inspect.signature(destroy).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def close_object(obj: object) -> None:
    """The default destroy: call `obj.close()` when the object has one."""
    close = getattr(obj, "close", None)
    if callable(close):
        close()
