"""`PoolCore`: what the threaded pool and its asyncio twin decide alike, as steps that never
block and say what the caller does next (`_take_locked`, `_vet`, `_close_started`...).

Each twin keeps only how it waits: the threaded pool parks on locks and runs factories and
destroys on threads; the asyncio pool awaits futures and runs them as tasks. A subclass
supplies `_lock` (a `threading.Lock`; for the asyncio twin a no-op, since one event loop
thread needs none), `_notify_locked` (wake whoever waits for a change), `_spawn_creation`
and `_spawn_destroy` (on a thread, or as a task) and `_stop_housekeeping`. Everything here
is synchronous, so the asyncio twin calls it without awaiting.
"""

from __future__ import annotations

import inspect
import logging
import os
import traceback
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from itertools import count
from typing import Any, Generic, Protocol, TypeVar

from ..errors import PoolClosed, PoolCloseError, PoolTimeout
from . import clock
from .books import Entry, PoolBooks, Waiter, Work
from .calls import close_object, drop_locals, takes_deadline
from .clock import Deadline
from .histogram import Histogram
from .options import PoolOptions, check_option
from .stats import PoolStats

__all__ = ["AsyncCheck", "Closing", "LeaseBase", "PoolCore", "Tracked", "outcome"]

T = TypeVar("T")

logger = logging.getLogger("producer_pool")
_PACKAGE_DIR = os.path.dirname(os.path.dirname(__file__)) + os.sep  # producer_pool/

_pool_numbers = count(1)
#: Share of a close's budget kept back so that destroys end before close() reports them.
_CLOSE_REPORTING_SHARE = 0.1
_CLOSE_REPORTING_MAX = 0.5
#: The least time close() gives destroys past their deadline to report, even beyond its own
#: budget: close(timeout=0) in an outage once returned before its destroys had counted what
#: they could not deliver (kafka-python, confluent: no error, the loss only in the log) or
#: cancelled them first (aiokafka, confluent-aio: "0 undelivered" of 20 lost). A destroy
#: told its deadline has passed aborts in tens of milliseconds.
_CLOSE_REPORTING_LEAST = 0.5


class Tracked(Protocol):
    """A lease as the leak report sees it (set only when the pool tracks leaks)."""

    _acquired_at: float
    _stack: str


class _Lock(Protocol):
    def acquire(self) -> bool: ...
    def release(self) -> None: ...
    def __enter__(self) -> bool: ...
    def __exit__(self, *exc_info: Any) -> None: ...


class LeaseBase(Generic[T]):
    """What a threaded and an asyncio lease share: their state and repr. Entry and exit
    are each twin's own, inlined: they are the hot path."""

    __slots__ = ("_acquired_at", "_entry", "_pool", "_stack", "_timeout")
    _acquired_at: float  # set, with _stack, only when the pool tracks leaks
    _stack: str
    _pool: PoolCore[T]

    def __init__(self, pool: PoolCore[T], timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._entry: Entry[T] | None = None

    def __repr__(self) -> str:
        held = "not held" if self._entry is None else f"holding {self._entry.obj!r}"
        return f"<{type(self).__name__} {held} from {self._pool!r}>"


@dataclass(frozen=True, slots=True)
class Closing(Generic[T]):
    """A close that has work to do: the idle objects to destroy (none when an earlier close
    was interrupted before it reported: this one waits for what it left) and its deadline."""

    idle: list[Entry[T]]
    budget: float
    deadline: Deadline

    def reporting_wait(self) -> Deadline:
        """How long to wait, once the destroys' deadline has passed, for them to report:
        the rest of close's budget, and at least `_CLOSE_REPORTING_LEAST`, whatever the
        clock says (a small budget, close(timeout=0), or a stall of a loaded machine that
        took close past its own deadline meanwhile)."""
        return Deadline(max(self.deadline.remaining(), _CLOSE_REPORTING_LEAST))


class AsyncCheck(Generic[T]):
    """An async check's answer still to come (the asyncio pool's `check` may be
    `async def`): `passes()` awaits it and retires the object if it fails."""

    __slots__ = ("_answer", "_entry", "_pool")

    def __init__(self, pool: PoolCore[T], entry: Entry[T], answer: Awaitable[object]) -> None:
        self._pool = pool
        self._entry = entry
        self._answer = answer

    async def passes(self) -> bool:
        try:
            passed = await self._answer
        except Exception:
            return self._pool._failed_check(self._entry, raised=True)
        except BaseException as exc:
            if self._pool._failure_of_check(exc):
                return self._pool._failed_check(self._entry, raised=True)
            self._pool._unlease(self._entry)  # cancelled or interrupted mid-check: never leased
            raise
        return True if passed else self._pool._failed_check(self._entry, raised=False)


def outcome(waiter: Waiter[T]) -> Entry[T]:
    """What a served waiter got: its object, or raise the error it was served. The error
    leaves the waiter, and is raised from a frame that holds neither: else the error's
    traceback would hold them, and the pool with them, in a reference cycle."""
    error, waiter.error = waiter.error, None
    if error is None:
        assert waiter.entry is not None
        return waiter.entry
    del waiter
    try:
        raise error
    finally:
        del error


def _callers_stack() -> str:
    """The stack that took a lease, without this package's own frames (the fast and slow
    paths reach `_leased` through different frames)."""
    stack = traceback.extract_stack(limit=20)
    while stack and stack[-1].filename.startswith(_PACKAGE_DIR):
        stack.pop()
    return "".join(traceback.format_list(stack))


class PoolCore(PoolBooks[T]):
    """The twins' common layer: see the module docstring for what a subclass supplies."""

    _lock: _Lock

    def __init__(
        self, factory: Callable[[], Any], given: Mapping[str, Any], *, threaded: bool
    ) -> None:
        options = PoolOptions.of(given)
        options.check_factory(factory, threaded=threaded)
        super().__init__(options, options.name or f"pool-{next(_pool_numbers)}")
        self._factory = factory
        #: A close() reported its outcome: later calls return at once (see `_close_started`).
        self._close_reported = False
        self._acquire_timeout = float(options.acquire_timeout)
        self._close_timeout = float(options.close_timeout)
        self._check: Callable[[T], object] | None = options.check
        self._destroy_fn: Callable[..., object] = options.destroy or close_object
        self._destroy_takes_deadline = takes_deadline(self._destroy_fn)
        self._discard_on = options.discard_on
        self._leak_timeout = options.leak_timeout
        #: Objects can go stale: the hot path reads the clock only then.
        self._timed = self._max_lifetime is not None or self._max_idle is not None
        #: The pool's one clock, bound once (tests that drive the clock patch it before).
        self._now = clock.monotonic
        self._listener = options.listener
        #: Leak tracking or a listener: each lease is reported (`_leased`).
        self._tracked = self._leak_timeout is not None or self._listener is not None
        #: No check and nothing to report: an idle object is handed out at once.
        self._plain = self._check is None and not self._tracked
        self._needs_housekeeper = (
            self._timed or self._leak_timeout is not None or self._min_size > 0
        )
        self._interval = options.housekeeping_interval()

    def _notify_locked(self) -> None:
        raise NotImplementedError

    def _spawn_creation(self, started: float) -> None:
        """Run `_create(started)` in the background: on a thread, or as a task."""
        raise NotImplementedError

    def _spawn_destroy(self, entry: Entry[T]) -> None:
        """Run `_destroy(entry)` in the background: on a thread, or as a task."""
        raise NotImplementedError

    def _stop_housekeeping(self) -> None:
        """Stop the housekeeper without waiting (from `__del__`, which must never block)."""
        raise NotImplementedError

    def _start_process_state(self) -> None:
        """What this process keeps beside the books (a forked child starts afresh): the
        leases tracked for leaks, close()'s errors and deadline, and the parent's objects
        after a fork. Each twin adds its lock, threads, tasks and timers."""
        self._leases: set[Tracked] = set()
        self._close_errors: list[BaseException] = []
        self._orphans: list[Entry[T]] = []  # the parent's objects, after a fork
        self._destroy_deadline = Deadline(float("inf"))  # close() brings it forward

    def _after_fork_in_child(self) -> None:
        """Forget the parent's objects: their sockets, threads and loop belong to the parent."""
        orphans = [*self._orphans, *self._entries]
        closed = self._closed
        self._reset_books(self._generation + 1)
        self._close_reported = closed  # the parent's close, whatever its state, is not ours
        if closed:
            self._closed = True
            self._open_generation = -1
        self._start_process_state()
        # Keep them referenced: a finalizer closing a producer would shut the parent's sockets.
        self._orphans = orphans

    # ------------------------------------------------------------------ public, both twins

    def stats(self) -> PoolStats:
        """A consistent snapshot of gauges and counters."""
        with self._lock:
            return self._stats_locked()

    def histograms(self) -> dict[str, Histogram]:
        """Copies of the `acquire_wait`, `hold` and `creation` duration histograms, with
        their buckets (what `stats()` summarises), for exporters."""
        with self._lock:
            return self._histograms_locked()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def factory(self) -> Callable[[], Any]:
        """What makes the pool's objects: for `pool(kit)`, the kit (transactions use it)."""
        return self._factory

    def _prewarmed_locked(self, timeout: float, deadline: Deadline) -> bool:
        """Whether `min_size` objects exist; raises once closed or past `deadline` (wait())."""
        if len(self._entries) >= self._min_size:
            return True
        if self._closed:
            raise PoolClosed(f"{self.name}: closed while waiting for prewarm")
        if deadline.expired:
            raise PoolTimeout(
                f"{self.name}: {len(self._entries)} of min_size={self._min_size} "
                f"objects ready after {timeout:g}s (factory_errors={self._factory_errors})"
            )
        return False

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return (
            f"<{type(self).__name__} {self.name!r} size={self._size}/{self._max_size} "
            f"idle={len(self._idle)} in_use={self._in_use_locked()} "
            f"waiting={len(self._waiters)}{state}>"
        )

    def __del__(self) -> None:
        if getattr(self, "_closed", True):
            return
        if hasattr(self, "_lock"):
            self._stop_housekeeping()
        warnings.warn(
            f"unclosed {self!r}; call close()", ResourceWarning, stacklevel=1, source=self
        )

    # ------------------------------------------------------------------ leasing

    def _take_locked(self) -> Entry[T] | None:
        """An idle object (leased; its check still to run), or in share mode at max_size an
        extra lease on the least-loaded one (`leases > 1`: not checked); None: the caller
        queues. Raises `PoolClosed` once the pool is closed."""
        if self._closed:
            raise PoolClosed(f"{self.name}: closed")
        entry = self._take_idle_locked()
        return entry if entry is not None else self._share_locked()

    def _vet(self, entry: Entry[T]) -> bool | AsyncCheck[T]:
        """Run the check on a reused candidate, outside the lock: True to hand it out, False
        if it failed (it is retired), or an `AsyncCheck` to await (asyncio pool only)."""
        check = self._check
        if check is None:
            return True
        if entry.fresh:  # a new object is not checked; from its second lease on, it is
            entry.fresh = False
            return True
        try:
            passed = check(entry.obj)
        except Exception:
            return self._failed_check(entry, raised=True)
        except BaseException:  # Ctrl-C mid-check: give the object back, then stop
            self._unlease(entry)
            raise
        if passed is True:
            return True
        if inspect.isawaitable(passed):
            return self._async_check(entry, passed)
        return True if passed else self._failed_check(entry, raised=False)

    def _async_check(self, entry: Entry[T], answer: Awaitable[object]) -> AsyncCheck[T]:
        """The check returned an awaitable (an `async def` check): its answer, to await."""
        return AsyncCheck(self, entry, answer)

    def _failure_of_check(self, error: BaseException) -> bool:
        """Whether `error`, no `Exception`, raised by an awaited check, is the check's own
        failure (the asyncio pool: a `CancelledError` its client raised), not the caller's
        interruption."""
        return False

    def _failed_check(self, entry: Entry[T], *, raised: bool) -> bool:
        """A candidate failed its check (or raised): retire it. False, the verdict."""
        if raised:
            logger.warning("%s: check raised; replacing the object", self.name, exc_info=True)
        with self._lock:
            work = self._reject_locked(entry)
        self._do(work)
        return False

    def _unlease(
        self, entry: Entry[T], lease: object = None, waiter: Waiter[T] | None = None
    ) -> None:
        """A check or the listener was interrupted (Ctrl-C, a cancelled task) before the
        caller got the object, or a `waiter` served it was: it is not counted as acquired
        (nor as served, nor shared), goes back (or to the next waiter), and `lease` is no
        longer tracked for leaks."""
        with self._lock:
            self._acquired -= 1
            if waiter is not None:  # its wait stays recorded, as a withdrawn waiter's does
                self._served_waiters -= 1
                self._shared_leases -= waiter.shared
            if entry.leases == 1:
                entry.leased_at = 0.0  # nor held (a shared object's sample is its holder's)
        self._checkin(entry, None, lease)

    def _leased(self, lease: Tracked, entry: Entry[T], began: float | None) -> None:
        """A lease began (its caller started waiting at `began`; None: it did not wait):
        remember where, for the leak report, and tell the listener, if either is set."""
        try:
            if self._leak_timeout is not None:
                lease._acquired_at = self._now()
                lease._stack = _callers_stack()
                with self._lock:
                    self._leases.add(lease)
            if self._listener is not None:
                wait = 0.0 if began is None else self._now() - began
                self._emit("on_acquire", entry.obj, wait)
        except BaseException:  # Ctrl-C in the listener: the caller never gets the object
            self._unlease(entry, lease)
            raise

    def _emit(self, event: str, *args: object) -> None:
        """Call the listener's `event` hook; one that raises is logged and ignored."""
        listener = self._listener
        if listener is None:
            return
        try:
            getattr(listener, event)(*args)
        except Exception:
            logger.exception("%s: listener %r raised in %s; ignored", self.name, listener, event)

    def _checkin(self, entry: Entry[T], exc: BaseException | None, lease: object) -> None:
        """A lease ends: the object goes idle, to the oldest waiter, or is retired."""
        now = self._now() if self._timed else 0.0
        lock = self._lock
        lock.acquire()  # not `with`: twice the cost; try/finally is free and as safe
        try:
            if self._leak_timeout is not None:
                self._leases.discard(lease)
            leased_at = entry.leased_at
            if leased_at:  # a lease sampled for the hold-time histogram
                entry.leased_at = 0.0
                self._hold_times.record((now if self._timed else self._now()) - leased_at)
            if (
                exc is None
                and now < entry.expires_at  # -inf once broken
                and entry.generation == self._open_generation
            ):  # the common cases, inlined: a healthy object back in an open pool
                leases = entry.leases
                if leases == 1 and not self._waiters:  # exclusive, nobody waiting: idle
                    entry.leases = 0
                    entry.returned_at = now
                    self._idle.append(entry)
                    return
                if leases > 1:  # one of several shared leases: the others keep it
                    entry.leases = leases - 1
                    return
            broken = exc is not None and isinstance(exc, self._discard_on)
            work = self._release_locked(entry, broken, now if self._timed else self._now())
            self._notify_locked()
        finally:
            lock.release()
        if work is not None:
            self._do(work)

    # ------------------------------------------------------------------ waiting

    def _expire(self, waiter: Waiter[T]) -> None:
        """A waiter's time is up: serve it its `PoolTimeout`, unless it was served meanwhile."""
        now = self._now()
        with self._lock:
            if not self._withdraw_locked(waiter, now, timed_out=True):
                return
            waiter.serve(None, self._timeout_locked(waiter, now))
        self._emit("on_timeout", now - waiter.since)

    def _timeout_locked(self, waiter: Waiter[T], now: float) -> PoolTimeout:
        """The `PoolTimeout` of a waiter that gave up: what the pool held, a creation that
        ran for the whole wait (the factory named, as its repr shows it), and the factory's
        last failure as the cause (the pool may be failing to create anything)."""
        message = (
            f"{self.name}: no object available within {waiter.timeout:g}s "
            f"({self._describe_locked()})"
        )
        oldest = min(self._creation_starts, default=now)
        if now - oldest >= 0.9 * (now - waiter.since) > 0:  # it began as the wait did, or before
            message += (
                f"; a creation has been running for {now - oldest:.1f}s, the whole wait "
                f"(factory {self._factory!r})"
            )
        cause = self._last_failure
        if cause is not None:
            message += f"; the last creation failed: {cause!r}"
        error = PoolTimeout(message)
        error.__cause__ = cause
        return error

    def _abandoned(self, waiter: Waiter[T]) -> None:
        """A waiter was interrupted (cancelled, Ctrl-C): whatever it was served goes back,
        never counted as a lease."""
        with self._lock:
            if self._withdraw_locked(waiter, self._now(), timed_out=False):
                return
        if waiter.entry is not None:
            self._unlease(waiter.entry, None, waiter)

    # ------------------------------------------------------------------ creating, destroying

    def _do(self, work: Work[T]) -> None:
        """Carry out what a locked step decided: destroys and creations, in the background."""
        for entry in work.destroy:
            self._spawn_destroy(entry)
        self._start_creations(work.create)

    def _start_creations(self, count: int) -> None:
        """Start `count` creations (their slots are reserved); each is known by its start
        time, for the timeout that waited on it."""
        for _ in range(count):
            with self._lock:
                started = self._now()
                self._creation_began_locked(started)
            self._spawn_creation(started)

    def _creation_succeeded(self, obj: T, started: float) -> Entry[T] | None:
        """A factory (called at `started`) returned: serve the object; the entry if the pool
        closed meanwhile (destroy it)."""
        now = self._now()
        entry = Entry(obj, now, self._max_lifetime, self._generation)
        with self._lock:
            live = self._created_locked(entry, now, started)
            self._notify_locked()
        self._emit("on_create", obj, now - started)
        return None if live else entry  # made after close: destroy it, counted both ways

    def _creation_failed(self, exc: BaseException, started: float) -> None:
        """A factory call raised: its error goes to the longest waiter, or is logged."""
        drop_locals(exc)  # what the factory made and closed must not live on in its frames
        with self._lock:
            failed = self._creation_failed_locked(exc, self._now(), started)
            self._notify_locked()
        self._emit("on_create_failed", exc)
        if not failed.served:
            logger.warning(
                "%s: creating an object failed with nobody waiting for it; "
                "prewarm retries in %.1fs",
                self.name,
                failed.retry_in,
                exc_info=exc,
            )
        self._do(Work(create=failed.create))

    def _creation_cancelled(self, started: float) -> None:
        with self._lock:
            self._creation_cancelled_locked(started)
            self._notify_locked()

    def _call_destroy(self, obj: T) -> object:
        """Call the destroy; a destroy that accepts `deadline=` is told close()'s deadline."""
        if self._destroy_takes_deadline:
            return self._destroy_fn(obj, deadline=self._destroy_deadline)
        return self._destroy_fn(obj)

    def _destroy_ended(self, entry: Entry[T], error: BaseException | None) -> None:
        """A destroy ended; a failure is logged, counted and reported by close()."""
        if error is not None:
            logger.error(
                "%s: destroying %r failed: %s", self.name, entry.obj, error, exc_info=error
            )
        with self._lock:
            self._destroyed_locked()
            if error is not None and self._closed:
                self._close_errors.append(error)
            self._notify_locked()
        self._emit("on_destroy", entry.obj, entry.retired_for)

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
            self._emit("on_leak", now - lease._acquired_at, lease._stack)
        return self._interval

    def _leaked_locked(self, now: float) -> list[Tracked]:
        if self._leak_timeout is None:
            return []
        leaked = [lease for lease in self._leases if now - lease._acquired_at > self._leak_timeout]
        self._leases.difference_update(leaked)  # report each lease once
        return leaked

    # ------------------------------------------------------------------ closing

    def _close_started(self, timeout: float | None) -> Closing[T] | None:
        """Close the books: waiters fail, destroys learn the deadline. None once a close()
        has reported (later calls return at once); else what this close does and waits for."""
        if timeout is not None:
            check_option("close_timeout", timeout, label="timeout")
        budget = self._close_timeout if timeout is None else timeout
        deadline = Deadline(budget)
        reporting = min(_CLOSE_REPORTING_MAX, budget * _CLOSE_REPORTING_SHARE)
        with self._lock:
            if self._close_reported:
                return None
            idle = (
                []
                if self._closed
                else self._close_locked(lambda: PoolClosed(f"{self.name}: closed while waiting"))
            )
            self._destroy_deadline.bring_forward(Deadline(budget - reporting))
            self._notify_locked()
        return Closing(idle, budget, deadline)

    def _busy_locked(self) -> bool:
        """What close() waits for: leases out, creations or destroys running."""
        return bool(self._in_use_locked() or self._creating or self._destroying)

    def _close_finished(self, closing: Closing[T]) -> None:
        """Log what is still running after close's wait; raise `PoolCloseError` for failures.
        Of several close() calls waiting at once, the first to get here reports."""
        with self._lock:
            if self._close_reported:
                return
            self._close_reported = True
            leased, creating, destroying = self._in_use_locked(), self._creating, self._destroying
            errors, self._close_errors = self._close_errors, []
        if leased:
            logger.warning(
                "%s: %d lease(s) still out after %gs; each object is destroyed when returned",
                self.name,
                leased,
                closing.budget,
            )
        if creating or destroying:
            logger.warning(
                "%s: after %gs, %d creation(s) and %d destroy(s) were still running",
                self.name,
                closing.budget,
                creating,
                destroying,
            )
        if self._deliveries is not None:  # every failure of the pool's life, counted once
            undelivered = self._deliveries.failed
        else:
            undelivered = sum(getattr(error, "undelivered", 0) for error in errors)
        if errors or undelivered:
            what = [f"{len(errors)} object(s) failed to close cleanly"] if errors else []
            what += [f"{undelivered} message(s) undelivered"] if undelivered else []
            raise PoolCloseError(
                f"{self.name}: {'; '.join(what)}" + (f" (first: {errors[0]})" if errors else ""),
                undelivered=undelivered,
                errors=errors,
            ) from (errors[0] if errors else None)
