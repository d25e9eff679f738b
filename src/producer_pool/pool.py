"""`ProducerPool[T]`: a bounded, fair, fork-safe pool that leases client objects to threads.

The lock guards bookkeeping only: factories, checks and destroys run outside it, so a slow
or dead broker blocks the caller that needs a new producer and nobody else.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
import time
import traceback
import warnings
import weakref
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

from .errors import ConfigError, PoolClosed, PoolCloseError, PoolTimeout, TooManyWaiters
from .stats import PoolStats

__all__ = ["Lease", "OnExhausted", "ProducerPool", "close_object"]

T = TypeVar("T")
OnExhausted = Literal["block", "share"]

logger = logging.getLogger("producer_pool")

#: The pool's clock; module-level so that tests can drive time deterministically.
monotonic = time.monotonic

_LIFETIME_JITTER = 0.1  # ±10 %, so objects created together do not all retire together
_HOUSEKEEPING_MAX_INTERVAL = 1.0  # expiry is enforced within about a second
_PREWARM_MAX_BACKOFF = 30.0
_YIELDS_BEFORE_PARKING = 1
_pool_numbers = itertools.count(1)


class _Entry(Generic[T]):
    """One pooled object and its bookkeeping; `generation` ties it to one process."""

    __slots__ = ("broken", "expires_at", "generation", "leases", "obj", "returned_at")

    def __init__(self, obj: T, created_at: float, expires_at: float, generation: int) -> None:
        self.obj = obj
        self.expires_at = expires_at  # inf without max_lifetime
        self.returned_at = created_at
        self.generation = generation
        self.leases = 0
        self.broken = False


class _Waiter(Generic[T]):
    """A caller parked in `acquire`, woken by whoever serves it.

    It is served exactly once, under the pool lock, with an entry, a permit to create
    (`entry is None`), or an error. A pre-acquired `Lock` is the cheapest one-shot signal.
    """

    __slots__ = ("entry", "error", "signal", "since")

    def __init__(self, since: float) -> None:
        self.signal = threading.Lock()
        self.signal.acquire()
        self.entry: _Entry[T] | None = None
        self.error: BaseException | None = None
        self.since = since


class Lease(Generic[T]):
    """An exclusive claim on one pooled object for the duration of a `with` block.

    The object is taken on `__enter__` (not by `acquire()`), so a lease that is never
    entered holds nothing. It goes back on `__exit__`, exceptions included; an exception
    listed in the pool's `discard_on` destroys it instead.
    """

    __slots__ = ("__weakref__", "_acquired_at", "_entry", "_pool", "_stack", "_timeout")
    _acquired_at: float
    _stack: str

    def __init__(self, pool: ProducerPool[T], timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._entry: _Entry[T] | None = None
        # _acquired_at and _stack are set only when the pool tracks leaks

    # The fast paths below are inlined on purpose: a Python call made while holding the
    # pool lock is a point where the GIL can switch threads, and a thread preempted while
    # holding the lock turns every later lease into a thread switch (a lock convoy).

    def __enter__(self) -> T:
        if self._entry is not None:
            raise RuntimeError("this lease is already held; call pool.acquire() again")
        pool = self._pool
        if pool._fast_path:  # read unlocked to skip a lock round trip; re-checked under it
            lock = pool._lock
            lock.acquire()  # not `with`: twice the cost; try/finally is free and as safe
            try:
                if pool._idle and pool._fast_path:
                    entry = pool._idle.pop()
                    entry.leases = 1
                    pool._acquired += 1
                    self._entry = entry
                    return entry.obj
            finally:
                lock.release()
        entry = pool._checkout(self._timeout, self)
        self._entry = entry
        return entry.obj

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entry = self._entry
        if entry is None:
            return
        self._entry = None
        pool = self._pool
        if exc is None and pool._fast_path:
            lock = pool._lock
            lock.acquire()
            try:
                if (
                    pool._fast_path
                    and entry.leases == 1
                    and not entry.broken
                    and not pool._waiters
                    and entry.generation == pool._generation
                ):
                    entry.leases = 0
                    pool._idle.append(entry)
                    return
            finally:
                lock.release()
        pool._checkin(entry, exc is not None and isinstance(exc, pool._discard_on), self)

    def __repr__(self) -> str:
        held = "not held" if self._entry is None else f"holding {self._entry.obj!r}"
        return f"<Lease {held} from {self._pool!r}>"


class ProducerPool(Generic[T]):
    """A pool of objects made by a zero-argument `factory`, leased with `pool.acquire()`.

    Instances share nothing: two pools never see each other's objects, so tests and
    subclasses cannot leak state. See the README for every option's meaning.
    """

    def __init__(
        self,
        factory: Callable[[], T],
        *,
        max_size: int = 10,
        min_size: int = 0,
        acquire_timeout: float = 30.0,
        max_waiting: int | None = None,
        max_lifetime: float | None = None,
        max_idle: float | None = None,
        check: Callable[[T], bool] | None = None,
        destroy: Callable[[T], object] | None = None,
        discard_on: tuple[type[BaseException], ...] = (),
        on_exhausted: OnExhausted = "block",
        leak_timeout: float | None = None,
        name: str | None = None,
    ) -> None:
        _validate(
            factory=factory,
            max_size=max_size,
            min_size=min_size,
            acquire_timeout=acquire_timeout,
            max_waiting=max_waiting,
            max_lifetime=max_lifetime,
            max_idle=max_idle,
            check=check,
            destroy=destroy,
            discard_on=discard_on,
            on_exhausted=on_exhausted,
            leak_timeout=leak_timeout,
        )
        self.name = name if name is not None else f"pool-{next(_pool_numbers)}"
        self._factory = factory
        self._max_size = max_size
        self._min_size = min_size
        self._acquire_timeout = float(acquire_timeout)
        self._max_waiting = max_waiting
        self._max_lifetime = max_lifetime
        self._max_idle = max_idle
        self._check = check
        self._destroy_fn: Callable[[T], object] = destroy if destroy is not None else close_object
        self._discard_on = tuple(discard_on)
        self._share = on_exhausted == "share"
        self._leak_timeout = leak_timeout
        # Leases skip validation and leak tracking when none is configured (and until close).
        self._fast_path = (
            check is None and max_lifetime is None and max_idle is None and leak_timeout is None
        )

        self._closed = False
        self._reset_state(generation=0)
        self._created = self._destroyed = self._acquired = self._timeouts = 0
        self._failed_checks = self._factory_errors = self._shared_leases = 0
        self._total_wait = self._max_wait = 0.0

        self._housekeeper_stop = threading.Event()
        self._housekeeping_interval = _housekeeping_interval(max_lifetime, max_idle, leak_timeout)
        _register_for_fork(self)
        self._start_housekeeper()

    def _reset_state(self, generation: int) -> None:
        """(Re)create the per-process state; after a fork the child starts from here."""
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._generation = generation
        self._entries: list[_Entry[T]] = []  # every live object, idle or leased
        self._idle: list[_Entry[T]] = []  # LIFO: the warmest object is reused first
        self._waiters: deque[_Waiter[T]] = deque()  # FIFO: the longest waiter is served first
        self._size = 0  # live objects plus creations in flight
        self._leases: weakref.WeakSet[Lease[T]] = weakref.WeakSet()  # for leak detection
        self._close_errors: list[BaseException] = []
        self._orphans: list[_Entry[T]] = []  # the parent's objects, after a fork

    # ------------------------------------------------------------------ public API

    def acquire(self, timeout: float | None = None) -> Lease[T]:
        """Return a lease; `with pool.acquire() as obj:` holds `obj` for the block.

        `timeout` (seconds, default `acquire_timeout`) bounds the wait for a free object;
        past it `PoolTimeout` is raised.
        """
        return Lease(self, timeout)

    def stats(self) -> PoolStats:
        """A consistent snapshot of gauges and counters."""
        with self._lock:
            return PoolStats(
                name=self.name,
                size=self._size,
                idle=len(self._idle),
                in_use=self._in_use_count(),
                waiting=len(self._waiters),
                max_size=self._max_size,
                created=self._created,
                destroyed=self._destroyed,
                acquired=self._acquired,
                timeouts=self._timeouts,
                failed_checks=self._failed_checks,
                factory_errors=self._factory_errors,
                shared_leases=self._shared_leases,
                total_wait_seconds=self._total_wait,
                max_wait_seconds=self._max_wait,
            )

    @property
    def closed(self) -> bool:
        return self._closed

    def wait(self, timeout: float = 30.0) -> None:
        """Block until `min_size` objects exist (prewarm done); `PoolTimeout` otherwise."""
        deadline = monotonic() + timeout
        with self._lock:
            while len(self._entries) < self._min_size:
                remaining = deadline - monotonic()
                if self._closed:
                    raise PoolClosed(f"{self.name}: closed while waiting for prewarm")
                if remaining <= 0 or not self._changed.wait(remaining):
                    raise PoolTimeout(
                        f"{self.name}: {len(self._entries)} of min_size={self._min_size} "
                        f"objects ready after {timeout:g}s (factory_errors={self._factory_errors})"
                    )

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new leases, wait up to `timeout` for leases to return, destroy everything.

        Waiters get `PoolClosed`. A lease still out at the deadline is destroyed when it
        returns. Raises `PoolCloseError` if any destroy failed (e.g. undelivered messages).
        Idempotent.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._fast_path = False
            while self._waiters:
                waiter = self._waiters.popleft()
                waiter.error = PoolClosed(f"{self.name}: closed while waiting")
                waiter.signal.release()
            idle, self._idle = self._idle, []
            for entry in idle:
                self._forget_locked(entry)
        self._stop_housekeeper()
        for entry in idle:
            self._destroy(entry.obj)
        deadline = monotonic() + timeout
        with self._lock:
            while self._in_use_count() and (remaining := deadline - monotonic()) > 0:
                self._changed.wait(remaining)
            outstanding = self._in_use_count()
            errors, self._close_errors = self._close_errors, []
        if outstanding:
            logger.warning(
                "%s: %d lease(s) still out after %gs; each object is destroyed when returned",
                self.name,
                outstanding,
                timeout,
            )
        if errors:
            undelivered = sum(getattr(error, "undelivered", 0) for error in errors)
            raise PoolCloseError(
                f"{self.name}: {len(errors)} object(s) failed to close cleanly"
                + (f"; {undelivered} message(s) undelivered" if undelivered else "")
                + f": {errors[0]}",
                undelivered=undelivered,
                errors=errors,
            ) from errors[0]

    def __enter__(self) -> ProducerPool[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return (
            f"<ProducerPool {self.name!r} size={self._size}/{self._max_size} "
            f"idle={len(self._idle)} in_use={self._in_use_count()} "
            f"waiting={len(self._waiters)}{state}>"
        )

    def __del__(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._housekeeper_stop.set()
        warnings.warn(
            f"unclosed {self!r}; call close()", ResourceWarning, stacklevel=1, source=self
        )

    # ------------------------------------------------------------------ leasing

    def _checkout(self, timeout: float | None, lease: Lease[T]) -> _Entry[T]:
        deadline = -1.0  # set when the caller first has to wait
        yields = 0
        spin = False
        while True:
            waiter: _Waiter[T] | None = None
            entry: _Entry[T] | None = None
            with self._lock:
                if self._closed:
                    raise PoolClosed(f"{self.name}: closed")
                if self._idle:
                    entry = self._idle.pop()
                    entry.leases = 1
                    self._acquired += 1
                    if self._fast_path:
                        return entry
                elif self._size < self._max_size:
                    self._size += 1  # reserve the slot; the factory runs outside the lock
                elif self._share and (shared := self._least_loaded_locked()) is not None:
                    shared.leases += 1
                    self._acquired += 1
                    self._shared_leases += 1
                    self._track(lease)
                    return shared
                elif yields < _YIELDS_BEFORE_PARKING and timeout != 0:
                    yields += 1
                    spin = True
                else:
                    if deadline < 0:
                        deadline = monotonic() + (
                            self._acquire_timeout if timeout is None else timeout
                        )
                    waiter = self._enqueue_locked()
            if spin:
                # Parking makes every later release a thread switch (a convoy); first let a
                # preempted holder run. Queued waiters still come first: idle objects exist
                # only when nobody is queued.
                spin = False
                time.sleep(0)
                continue
            if waiter is not None:
                entry = self._wait(waiter, deadline, timeout)
                if entry is None:
                    return self._create(lease)
            elif entry is None:
                return self._create(lease)
            if self._usable(entry):
                self._track(lease)
                return entry
            self._retire(entry)

    def _checkin(self, entry: _Entry[T], broken: bool, lease: Lease[T] | None) -> None:
        retire = False
        expired = self._max_lifetime is not None and self._lifetime_over(entry, monotonic())
        with self._lock:
            if entry.generation != self._generation:
                return  # the parent process's object, inherited by fork: never touch it
            if lease is not None and self._leak_timeout is not None:
                self._leases.discard(lease)
            entry.leases -= 1
            if broken:
                entry.broken = True
            if entry.leases:
                return  # still shared by other leases
            if entry.broken or self._closed or expired:
                self._forget_locked(entry)
                retire = True
            else:
                self._put_back_locked(entry)
        if retire:
            self._destroy(entry.obj)

    def _put_back_locked(self, entry: _Entry[T]) -> None:
        """Give a free entry to the longest waiter, or make it idle."""
        if self._waiters:
            waiter = self._waiters.popleft()
            entry.leases = 1
            self._acquired += 1
            self._serve_locked(waiter, entry)
        else:
            if self._max_idle is not None:
                entry.returned_at = monotonic()
            self._idle.append(entry)

    def _serve_locked(self, waiter: _Waiter[T], entry: _Entry[T] | None) -> None:
        self._record_wait_locked(waiter)
        waiter.entry = entry
        waiter.signal.release()

    def _record_wait_locked(self, waiter: _Waiter[T]) -> None:
        waited = monotonic() - waiter.since
        self._total_wait += waited
        self._max_wait = max(self._max_wait, waited)

    def _free_slot_locked(self) -> None:
        """A slot became free: let the longest waiter create an object in it."""
        if self._waiters and self._size < self._max_size and not self._closed:
            self._size += 1
            self._serve_locked(self._waiters.popleft(), None)

    def _in_use_count(self) -> int:
        """Objects with at least one lease: every live entry that is not idle."""
        return len(self._entries) - len(self._idle)

    def _least_loaded_locked(self) -> _Entry[T] | None:
        leased = [e for e in self._entries if e.leases and not e.broken]
        return min(leased, key=lambda e: e.leases) if leased else None

    def _enqueue_locked(self) -> _Waiter[T]:
        if self._max_waiting is not None and len(self._waiters) >= self._max_waiting:
            raise TooManyWaiters(
                f"{self.name}: {len(self._waiters)} callers already waiting "
                f"(max_waiting={self._max_waiting}); shedding load"
            )
        waiter: _Waiter[T] = _Waiter(monotonic())
        self._waiters.append(waiter)
        return waiter

    def _wait(self, waiter: _Waiter[T], deadline: float, timeout: float | None) -> _Entry[T] | None:
        """Park until served; returns an entry, or None for a permit to create."""
        try:
            served = waiter.signal.acquire(timeout=max(0.0, deadline - monotonic()))
        except BaseException:  # e.g. KeyboardInterrupt: give back whatever we were served
            self._abandon(waiter)
            raise
        if not served:
            with self._lock:
                if waiter in self._waiters:  # not served: withdraw before anyone can serve us
                    self._waiters.remove(waiter)
                    self._timeouts += 1
                    self._record_wait_locked(waiter)
                    raise PoolTimeout(
                        f"{self.name}: no object available within "
                        f"{self._acquire_timeout if timeout is None else timeout:g}s "
                        f"(size={self._size}/{self._max_size}, in_use={self._in_use_count()}, "
                        f"waiting={len(self._waiters)})"
                    )
            # Served between the timeout and taking the lock: the object is ours.
        if waiter.error is not None:
            raise waiter.error
        return waiter.entry

    def _abandon(self, waiter: _Waiter[T]) -> None:
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return
            if waiter.error is not None:
                return
            entry = waiter.entry
            if entry is None:
                self._size -= 1
                self._free_slot_locked()
                return
        self._checkin(entry, False, None)

    def _track(self, lease: Lease[T]) -> None:
        if self._leak_timeout is not None:
            lease._acquired_at = monotonic()
            lease._stack = "".join(traceback.format_stack(limit=16)[:-3])
            with self._lock:
                self._leases.add(lease)

    # ------------------------------------------------------------------ lifecycle

    def _create(self, lease: Lease[T] | None) -> _Entry[T]:
        """Run the factory in the slot reserved by the caller (who holds no lock)."""
        generation = self._generation
        try:
            obj = self._factory()
        except BaseException:
            with self._lock:
                if generation == self._generation:
                    self._size -= 1
                    self._factory_errors += 1
                    self._free_slot_locked()
            raise
        now = monotonic()
        entry = _Entry(obj, now, self._expiry(now), generation)
        with self._lock:
            live = not self._closed and generation == self._generation
            if live:
                self._created += 1
                self._entries.append(entry)
                if lease is None:
                    self._put_back_locked(entry)
                    self._changed.notify_all()
                else:
                    entry.leases = 1
                    self._acquired += 1
            elif generation == self._generation:
                self._size -= 1
        if not live:
            self._destroy(obj)
            raise PoolClosed(f"{self.name}: closed while creating an object")
        if lease is not None:
            self._track(lease)
        return entry

    def _expiry(self, now: float) -> float:
        if self._max_lifetime is None:
            return float("inf")
        jitter = random.uniform(1 - _LIFETIME_JITTER, 1 + _LIFETIME_JITTER)
        return now + self._max_lifetime * jitter

    @staticmethod
    def _lifetime_over(entry: _Entry[T], now: float) -> bool:
        return now >= entry.expires_at

    def _idle_too_long(self, entry: _Entry[T], now: float) -> bool:
        return (
            self._max_idle is not None
            and now - entry.returned_at >= self._max_idle
            and self._size > self._min_size
        )

    def _usable(self, entry: _Entry[T]) -> bool:
        """Validate a reused object before handing it out (never a freshly created one)."""
        now = monotonic()
        if self._lifetime_over(entry, now) or self._idle_too_long(entry, now):
            return False
        if self._check is None:
            return True
        try:
            healthy = bool(self._check(entry.obj))
        except Exception:
            logger.warning(
                "%s: health check raised; replacing the object", self.name, exc_info=True
            )
            healthy = False
        if not healthy:
            with self._lock:
                self._failed_checks += 1
        return healthy

    def _retire(self, entry: _Entry[T]) -> None:
        """Destroy a checked-out entry that must not be used again."""
        with self._lock:
            if entry.generation != self._generation:
                return
            self._forget_locked(entry)
        self._destroy(entry.obj)

    def _forget_locked(self, entry: _Entry[T]) -> None:
        self._entries.remove(entry)
        self._size -= 1
        self._changed.notify_all()
        self._free_slot_locked()

    def _destroy(self, obj: T) -> None:
        """Destroy outside the lock; a failure is logged, counted and reported by close()."""
        error: BaseException | None = None
        try:
            self._destroy_fn(obj)
        except Exception as exc:
            logger.error("%s: destroying %r failed: %s", self.name, obj, exc, exc_info=True)
            error = exc
        with self._lock:
            self._destroyed += 1
            if error is not None and self._closed:
                self._close_errors.append(error)

    # ------------------------------------------------------------------ housekeeping

    def _start_housekeeper(self) -> None:
        if self._housekeeping_interval is None and not self._min_size:
            return
        thread = threading.Thread(
            target=_housekeep,
            args=(weakref.ref(self), self._housekeeper_stop),
            name=f"producer-pool-housekeeper[{self.name}]",
            daemon=True,
        )
        thread.start()
        self._housekeeper = thread

    def _stop_housekeeper(self) -> None:
        self._housekeeper_stop.set()
        thread = getattr(self, "_housekeeper", None)
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _housekeep_once(self, backoff: float) -> float:
        """Retire expired idle objects, refill to `min_size`, report leaks.

        Returns the delay before the next round: longer after a factory failure.
        """
        now = monotonic()
        expired: list[_Entry[T]] = []
        with self._lock:
            if self._closed:
                return 0.0
            for entry in list(self._idle):  # oldest first: LIFO reuse leaves them at the bottom
                if self._lifetime_over(entry, now) or self._idle_too_long(entry, now):
                    self._idle.remove(entry)
                    self._forget_locked(entry)
                    expired.append(entry)
            missing = self._min_size - self._size
            self._size += max(0, missing)
            leaked = self._leaked_locked(now)
        for entry in expired:
            self._destroy(entry.obj)
        for lease in leaked:
            logger.warning(
                "%s: lease held for %.1fs (leak_timeout=%gs); acquired at:\n%s",
                self.name,
                now - lease._acquired_at,
                self._leak_timeout,
                lease._stack,
            )
        interval = self._housekeeping_interval or _HOUSEKEEPING_MAX_INTERVAL
        for made in range(max(0, missing)):
            try:
                self._create(None)
            except Exception as exc:
                with self._lock:
                    self._size -= missing - made - 1  # release the slots not yet tried
                if isinstance(exc, PoolClosed):
                    return 0.0
                retry_in = min(max(backoff * 2, interval), _PREWARM_MAX_BACKOFF)
                logger.warning(
                    "%s: prewarm failed; retrying in %.1fs", self.name, retry_in, exc_info=True
                )
                return retry_in
        return interval

    def _leaked_locked(self, now: float) -> list[Lease[T]]:
        if self._leak_timeout is None:
            return []
        leaked = [lease for lease in self._leases if now - lease._acquired_at > self._leak_timeout]
        for lease in leaked:
            self._leases.discard(lease)  # report each lease once
        return leaked

    def _after_fork_in_child(self) -> None:
        """Forget the parent's objects: their sockets and threads belong to the parent."""
        orphans = self._orphans + self._entries
        self._reset_state(self._generation + 1)
        # Keep them referenced: a finalizer closing a producer would shut the parent's sockets.
        self._orphans = orphans
        if not self._closed:
            self._housekeeper_stop = threading.Event()
            self._start_housekeeper()


def _housekeep(pool_ref: weakref.ref[ProducerPool[Any]], stop: threading.Event) -> None:
    """Background loop holding the pool weakly, so an unclosed pool can still be collected."""
    delay = 0.0
    while not stop.wait(delay):
        pool = pool_ref()
        if pool is None:
            return
        delay = pool._housekeep_once(delay)
        del pool


def _housekeeping_interval(*durations: float | None) -> float | None:
    """Run often enough to enforce the shortest configured duration within ~1 s."""
    configured = [d for d in durations if d is not None]
    if not configured:
        return None
    return max(0.005, min(_HOUSEKEEPING_MAX_INTERVAL, *(d / 4 for d in configured)))


def close_object(obj: object) -> None:
    """The default destroy: call `obj.close()` when the object has one."""
    close = getattr(obj, "close", None)
    if callable(close):
        close()


def _validate(**options: Any) -> None:
    """Reject bad limits up front, naming the argument."""

    def fail(argument: str, requirement: str) -> None:
        raise ConfigError(f"{argument} {requirement} (got {options[argument]!r})")

    def is_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def is_number(value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    if not callable(options["factory"]):
        fail("factory", "must be a zero-argument callable")
    if not is_int(options["max_size"]) or options["max_size"] < 1:
        fail("max_size", "must be an integer >= 1")
    if not is_int(options["min_size"]) or not 0 <= options["min_size"] <= options["max_size"]:
        fail("min_size", f"must be an integer between 0 and max_size={options['max_size']}")
    if not is_number(options["acquire_timeout"]) or options["acquire_timeout"] < 0:
        fail("acquire_timeout", "must be a number of seconds >= 0")
    if options["max_waiting"] is not None and (
        not is_int(options["max_waiting"]) or options["max_waiting"] < 0
    ):
        fail("max_waiting", "must be None or an integer >= 0")
    for argument in ("max_lifetime", "max_idle", "leak_timeout"):
        value = options[argument]
        if value is not None and (not is_number(value) or value <= 0):
            fail(argument, "must be None or a number of seconds > 0")
    for argument in ("check", "destroy"):
        if options[argument] is not None and not callable(options[argument]):
            fail(argument, "must be None or a callable")
    discard_on = options["discard_on"]
    if not isinstance(discard_on, tuple) or not all(
        isinstance(t, type) and issubclass(t, BaseException) for t in discard_on
    ):
        fail("discard_on", "must be a tuple of exception types")
    if options["on_exhausted"] not in ("block", "share"):
        fail("on_exhausted", "must be 'block' or 'share'")
    if options["on_exhausted"] == "share" and getattr(
        options["factory"], "requires_exclusive_leases", False
    ):
        fail("on_exhausted", "must be 'block': this factory's objects need exclusive leases")


# Fork safety: pools are registered weakly, and each child process resets them.
_live_pools: weakref.WeakSet[ProducerPool[Any]] = weakref.WeakSet()


def _register_for_fork(pool: ProducerPool[Any]) -> None:
    _live_pools.add(pool)


def _reset_pools_in_child() -> None:
    for pool in list(_live_pools):
        pool._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_pools_in_child)
