"""The pool's bookkeeping, free of threads and I/O: who gets which object, when to grow, what
to retire.

Every `*_locked` method runs with the pool's lock held by its caller. It never takes a lock,
never blocks and never calls user code (factory, check, destroy): it changes the books and
returns the work to do once the lock is released (objects to destroy, creations to start),
as httpcore's connection pool does. Waiters are served through `Waiter.serve`, which only
sets a result and wakes the waiter. `control.PoolCore` adds what both twins do around
their lock; `ProducerPool` (threads) and `AsyncProducerPool` (asyncio) add the waits and I/O.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from ..errors import PoolError, TooManyWaiters
from .histogram import Histogram
from .options import PoolOptions, jittered_expiry
from .stats import PoolStats

__all__ = ["CreationFailed", "Entry", "PoolBooks", "Waiter", "Work"]

T = TypeVar("T")

_FIRST_RETRY = 0.1  # seconds before a failed prewarm is retried, doubling up to the next
_MAX_RETRY = 30.0
#: One exclusive lease in this many has its hold time measured: two clock reads per lease
#: would cost more than the histograms' budget (10 % of an uncontended acquire+release).
HOLD_SAMPLING = 16
HOLD_SAMPLING_MASK = HOLD_SAMPLING - 1


class Entry(Generic[T]):
    """One pooled object and its bookkeeping; `generation` ties it to one process."""

    __slots__ = (
        "broken",
        "expires_at",
        "fresh",
        "generation",
        "leased_at",
        "leases",
        "obj",
        "retired_for",
        "returned_at",
    )

    def __init__(self, obj: T, now: float, max_lifetime: float | None, generation: int) -> None:
        self.obj = obj
        self.expires_at = jittered_expiry(now, max_lifetime)  # inf without max_lifetime
        self.returned_at = now  # when it last went idle (read only with max_idle)
        self.generation = generation
        self.leases = 0
        self.broken = False
        self.fresh = True  # not leased yet: its first lease skips the check
        self.leased_at = 0.0  # set only on a lease sampled for the hold-time histogram
        self.retired_for = ""  # why it left the pool, for the listener


class Waiter(Protocol[T]):
    """A caller parked in `acquire`; served exactly once, under the pool's lock. `since` is
    when it began waiting, `timeout` the seconds it waits (for the `PoolTimeout`); `shared`
    is set when it is served an extra lease on an object in use (share mode: not checked)."""

    since: float
    timeout: float
    entry: Entry[T] | None
    error: BaseException | None
    shared: bool

    def serve(self, entry: Entry[T] | None, error: BaseException | None) -> None:
        """Hand over `entry` (or `error`) and wake the caller; must not block."""


@dataclass(slots=True)
class Work(Generic[T]):
    """What a locked step leaves for after the lock: objects to destroy, creations to start."""

    destroy: list[Entry[T]] = field(default_factory=list)
    create: int = 0


@dataclass(frozen=True, slots=True)
class CreationFailed:
    """What a failed creation leaves to do: whether a waiter got the error (else it is
    logged), creations to start for the other waiters, and when prewarm retries."""

    served: bool
    create: int
    retry_in: float


def _detached(error: BaseException) -> BaseException:
    """A copy of a factory's failure for the books to keep (a later `PoolTimeout`'s cause),
    without a traceback: the original goes to a waiter, which raises it, and its frames
    would then hold the pool in a reference cycle."""
    try:
        return copy.copy(error)
    except Exception:  # an exception that cannot be rebuilt from its arguments
        return PoolError(repr(error))


class PoolBooks(Generic[T]):
    """State and rules of a pool; subclasses add the lock, the waits and the I/O."""

    _now: Callable[[], float]  # the pool's clock (`control`)

    def __init__(self, options: PoolOptions, name: str) -> None:
        self.name = name
        self._deliveries = options.deliveries
        self._max_size = options.max_size
        self._min_size = options.min_size
        self._max_waiting = options.max_waiting
        self._max_lifetime = options.max_lifetime
        self._max_idle = options.max_idle
        self._idle_limit = math.inf if options.max_idle is None else options.max_idle
        self._share = options.shares
        self._fifo_after = options.fifo_after
        self._reset_books(generation=0)

    def _reset_books(self, generation: int) -> None:
        """Fresh books for this process; a forked child starts here, counters at zero."""
        self._generation = generation
        #: `generation` while open, -1 once closed: one comparison tells the hot path both.
        self._open_generation = generation
        self._closed = False
        self._entries: dict[Entry[T], None] = {}  # every live object, idle or leased
        self._idle: list[Entry[T]] = []  # LIFO: the warmest object is reused first
        #: FIFO: the longest waiter is served first. Idle objects and waiters coexist only
        #: while the longest has waited less than `fifo_after` (`_serve_locked`).
        self._waiters: deque[Waiter[T]] = deque()
        self._size = 0  # live objects plus creations in flight
        self._creating = 0
        #: Creations in flight that no waiter counts on: a caller gave up waiting for them
        #: (a hung factory call), so the next caller may start its own while there is room.
        self._unclaimed_creations = 0
        self._creation_starts: list[float] = []  # when each creation in flight began
        self._last_failure: BaseException | None = None  # since the last creation that worked
        self._destroying = 0
        self._failure_streak = 0
        self._retry_at = -math.inf  # no prewarm attempt before this time
        self._created = self._destroyed = self._acquired = self._timeouts = 0
        self._failed_checks = self._factory_errors = self._shared_leases = 0
        self._total_wait = self._max_wait = 0.0
        self._served_waiters = 0  # leases that waited; the others waited 0 (not recorded)
        self._wait_times = Histogram()
        self._hold_times = Histogram()  # sampled: one lease in HOLD_SAMPLING
        self._creation_times = Histogram()

    # ------------------------------------------------------------------ handing out

    def _take_idle_locked(self) -> Entry[T] | None:
        if not self._idle:
            return None
        entry = self._idle.pop()
        self._lease_locked(entry)
        return entry

    def _lease_locked(self, entry: Entry[T]) -> None:
        """An exclusive lease starts (the sync pool's fast path inlines this)."""
        entry.leases = 1
        self._acquired += 1
        if not self._acquired & HOLD_SAMPLING_MASK:
            entry.leased_at = self._now()

    def _share_locked(self) -> Entry[T] | None:
        """In share mode, at max_size: an extra lease on the least-loaded object."""
        if not self._share or self._size < self._max_size:
            return None
        entry: Entry[T] | None = None
        for candidate in self._entries:  # one pass: this runs on every shared acquire
            if (
                candidate.leases
                and not candidate.broken
                and (entry is None or candidate.leases < entry.leases)
            ):
                entry = candidate
        if entry is None:
            return None
        entry.leases += 1
        self._acquired += 1
        self._shared_leases += 1
        return entry

    def _enqueue_locked(self, waiter: Waiter[T]) -> int:
        """Queue `waiter`; return how many creations to start for the waiters.

        `max_waiting` bounds the callers queued for someone else's object: a caller whose
        own creation can start (the pool has room) is not turned away.
        """
        claimed = self._creating - self._unclaimed_creations  # callers whose creation runs
        if (
            self._max_waiting is not None
            and self._size >= self._max_size
            and len(self._waiters) - claimed >= self._max_waiting
        ):
            raise TooManyWaiters(
                f"{self.name}: {len(self._waiters)} callers already waiting "
                f"(max_waiting={self._max_waiting}); shedding load"
            )
        self._waiters.append(waiter)
        return self._grow_locked()

    def _withdraw_locked(self, waiter: Waiter[T], now: float, *, timed_out: bool) -> bool:
        """A waiter gives up (timeout, interrupt); False if it was served meanwhile. A
        creation it counted on is no longer counted on by anyone: it may hang."""
        try:
            self._waiters.remove(waiter)
        except ValueError:
            return False
        self._timeouts += timed_out
        self._record_wait_locked(waiter, now)
        self._unclaimed_creations = max(
            self._unclaimed_creations, self._creating - len(self._waiters)
        )
        if self._idle and self._waiters:  # it may have been the one offered an object
            self._offer_locked()
        return True

    def _grow_locked(self) -> int:
        """Reserve a slot for each waiter that no creation in flight will serve."""
        if self._closed:
            return 0
        claimed = self._creating - self._unclaimed_creations  # creations the queue counts on
        count = min(len(self._waiters) - claimed, self._max_size - self._size)
        if count <= 0:
            return 0
        self._size += count
        self._creating += count
        return count

    def _refill_locked(self, now: float) -> int:
        """Reserve slots up to `min_size` (prewarm), unless a failure asked to back off."""
        count = self._min_size - self._size
        if self._closed or count <= 0 or now < self._retry_at:
            return 0
        self._size += count
        self._creating += count
        return count

    def _serve_locked(self, entry: Entry[T], now: float, *, created: bool = False) -> None:
        """A free entry goes to the longest waiter if it has waited `fifo_after`, else it
        becomes idle and is offered to the longest waiter (`_offer_locked`), unless a caller
        that never queued takes it first: bounded barging. A releaser that takes its object
        straight back spares a task or thread switch per lease; no waiter is overtaken once
        it has waited `fifo_after` (docs/design.md, "Contention"). A `created` entry is
        always handed over: its creation was started for a waiter, and a barger taking it
        would leave that waiter with neither an object nor a creation to wait for. So is
        every entry in share mode: there a caller that has not queued never waits (it
        shares), so barging would spare nobody a switch, and only delay the waiters; the
        waiters behind share it (`_share_with_waiters_locked`)."""
        waiters = self._waiters
        if waiters and (created or self._share or now - waiters[0].since >= self._fifo_after):
            waiter = waiters.popleft()
            self._lease_locked(entry)
            self._served_waiters += 1
            self._record_wait_locked(waiter, now)
            waiter.serve(entry, None)
            if waiters and self._share:
                self._share_with_waiters_locked(now)
            return
        entry.returned_at = now
        self._idle.append(entry)
        if waiters:
            self._offer_locked()

    def _share_with_waiters_locked(self, now: float) -> None:
        """Share mode: the waiters left once an object is in use each get an extra lease on
        the least-loaded one at once, as a caller arriving now would. Else the callers that
        queued while the first object was created (every asyncio service's first burst,
        at max_size 1) would be served one release at a time."""
        waiters = self._waiters
        while waiters:
            entry = self._share_locked()  # None below max_size: they wait for their creations
            if entry is None:
                return
            waiter = waiters.popleft()
            self._served_waiters += 1
            self._record_wait_locked(waiter, now)
            waiter.shared = True
            waiter.serve(entry, None)

    def _offer_locked(self) -> None:
        """Idle objects and waiters coexist: make sure the longest waiter gets one unless
        a caller that never queued takes it first (the asyncio pool hands them over on the
        loop's next turn; the threaded pool wakes the waiter, which claims one)."""
        raise NotImplementedError

    def _claim_idle_locked(self, waiter: Waiter[T], now: float) -> Entry[T] | None:
        """A queued `waiter` takes an idle object and leaves the queue; None if callers that
        never queued took them all first (it keeps its place)."""
        entry = self._take_idle_locked()
        if entry is None:
            return None
        self._waiters.remove(waiter)  # the longest waiter: at the head, found at once
        self._served_waiters += 1
        self._record_wait_locked(waiter, now)
        if self._idle and self._waiters:
            self._offer_locked()
        return entry

    def _hand_idle_locked(self, now: float) -> None:
        """Idle objects go to the longest waiters, each served its own."""
        while self._idle and self._waiters:
            waiter = self._waiters[0]
            waiter.serve(self._claim_idle_locked(waiter, now), None)

    def _record_wait_locked(self, waiter: Waiter[T], now: float) -> None:
        waited = now - waiter.since
        self._total_wait += waited
        self._max_wait = max(self._max_wait, waited)
        self._wait_times.record(waited)

    # ------------------------------------------------------------------ creation

    def _creation_began_locked(self, now: float) -> None:
        self._creation_starts.append(now)

    def _creation_ended_locked(self, started: float) -> None:
        """A creation in flight (begun at `started`) ended, whatever its outcome."""
        self._creating -= 1
        self._unclaimed_creations = min(self._unclaimed_creations, self._creating)
        self._creation_starts.remove(started)

    def _created_locked(self, entry: Entry[T], now: float, started: float) -> bool:
        """A background creation (begun at `started`) succeeded; False if the pool closed
        meanwhile (destroy it)."""
        self._creation_ended_locked(started)
        self._created += 1
        self._creation_times.record(now - started)
        self._failure_streak = 0
        self._retry_at = -math.inf
        self._last_failure = None
        if self._closed:
            self._size -= 1
            self._destroying += 1
            entry.retired_for = "closed"
            return False
        self._entries[entry] = None
        self._serve_locked(entry, now, created=True)
        return True

    def _creation_failed_locked(
        self, error: BaseException, now: float, started: float
    ) -> CreationFailed:
        """A background creation failed: its error goes to the longest waiter (wrapped in a
        `PoolError` when it is no `Exception`: a waiter must not look cancelled or
        interrupted itself), and a creation starts for each waiter left uncovered."""
        self._creation_ended_locked(started)
        self._size -= 1
        self._factory_errors += 1
        self._failure_streak += 1
        self._last_failure = _detached(error)
        self._retry_at = now + min(_FIRST_RETRY * 2 ** (self._failure_streak - 1), _MAX_RETRY)
        if not self._waiters:
            return CreationFailed(served=False, create=0, retry_in=self._retry_at - now)
        waiter = self._waiters.popleft()
        self._record_wait_locked(waiter, now)
        if not isinstance(error, Exception):
            wrapped = PoolError(f"{self.name}: creating an object was interrupted: {error!r}")
            wrapped.__cause__ = error
            error = wrapped
        waiter.serve(None, error)
        return CreationFailed(served=True, create=self._grow_locked(), retry_in=0.0)

    def _creation_cancelled_locked(self, started: float) -> None:
        """A creation was cancelled (an asyncio pool's close, past its deadline): free its slot."""
        self._creation_ended_locked(started)
        self._size -= 1

    # ------------------------------------------------------------------ giving back

    def _release_locked(self, entry: Entry[T], broken: bool, now: float) -> Work[T] | None:
        """A lease ends: keep the entry (shared), hand it on, or retire it."""
        if entry.generation != self._generation:
            return None  # the parent process's object, inherited by fork: never touch it
        entry.leases -= 1
        if broken:
            self._break_locked(entry)
        if entry.leases:
            return None  # still shared by other leases
        if entry.broken:
            return self._forget_locked(entry, entry.retired_for or "discarded")
        if self._closed:
            return self._forget_locked(entry, "closed")
        if now >= entry.expires_at:
            return self._forget_locked(entry, "lifetime")
        self._serve_locked(entry, now)
        return None

    def _break_locked(self, entry: Entry[T]) -> None:
        """Never hand `entry` out again; it is retired when its last lease ends."""
        entry.broken = True
        entry.expires_at = -math.inf  # the hot path's one comparison sees it too

    def _reject_locked(self, entry: Entry[T]) -> Work[T]:
        """A candidate failed its check: it was never a lease, so undo its count. Share mode
        may have lent it out while the check ran (shared leases are not checked): then it
        is retired, as a discard is, when its last lease ends."""
        self._acquired -= 1
        self._failed_checks += 1
        entry.leases -= 1
        if entry.leases:
            self._break_locked(entry)
            entry.retired_for = "failed check"
            return Work()
        return self._forget_locked(entry, "failed check")

    def _forget_locked(self, entry: Entry[T], reason: str) -> Work[T]:
        """Take `entry` off the books; its slot may serve a waiter with a new object."""
        entry.retired_for = reason
        del self._entries[entry]
        self._size -= 1
        self._destroying += 1
        return Work([entry], self._grow_locked())

    def _destroyed_locked(self) -> None:
        self._destroying -= 1
        self._destroyed += 1

    def _stale_locked(self, entry: Entry[T], now: float) -> str:
        """Why an idle entry must go ("lifetime", "idle"), or "" to keep it."""
        if now >= entry.expires_at:
            return "lifetime"
        if now - entry.returned_at >= self._idle_limit and self._size > self._min_size:
            return "idle"
        return ""

    def _expired_idle_locked(self, now: float) -> Work[T]:
        """Take stale idle entries off the books, oldest first (LIFO leaves them at the bottom)."""
        work: Work[T] = Work()
        for entry in list(self._idle):
            reason = self._stale_locked(entry, now)
            if reason:
                self._idle.remove(entry)
                done = self._forget_locked(entry, reason)
                work.destroy += done.destroy
                work.create += done.create
        return work

    def _retire_leased_locked(self, reason: str) -> Work[T]:
        """Take every leased entry off the books: their holders are gone (an asyncio pool's
        loop ended with them)."""
        work: Work[T] = Work()
        for entry in list(self._entries):
            if entry.leases:
                entry.leases = 0
                entry.generation = -1  # a late return is ignored, as a forked parent's is
                done = self._forget_locked(entry, reason)
                work.destroy += done.destroy
                work.create += done.create
        return work

    # ------------------------------------------------------------------ closing

    def _close_locked(self, error: Callable[[], BaseException]) -> list[Entry[T]]:
        """Refuse new leases, fail every waiter with `error()`; return the idle entries."""
        self._closed = True
        self._open_generation = -1
        while self._waiters:
            self._waiters.popleft().serve(None, error())
        idle, self._idle = self._idle, []
        for entry in idle:
            entry.retired_for = "closed"
            del self._entries[entry]
            self._size -= 1
            self._destroying += 1
        return idle

    # ------------------------------------------------------------------ reporting

    def _in_use_locked(self) -> int:
        """Objects with at least one lease: every live entry that is not idle."""
        return len(self._entries) - len(self._idle)

    def _stats_locked(self) -> PoolStats:
        return PoolStats(
            name=self.name,
            size=self._size,
            idle=len(self._idle),
            in_use=self._in_use_locked(),
            waiting=len(self._waiters),
            max_size=self._max_size,
            creating=self._creating,
            destroying=self._destroying,
            created=self._created,
            destroyed=self._destroyed,
            acquired=self._acquired,
            timeouts=self._timeouts,
            failed_checks=self._failed_checks,
            factory_errors=self._factory_errors,
            shared_leases=self._shared_leases,
            delivered=0 if self._deliveries is None else self._deliveries.delivered,
            delivery_errors=0 if self._deliveries is None else self._deliveries.failed,
            total_wait_seconds=self._total_wait,
            max_wait_seconds=self._max_wait,
            acquire_wait=self._histograms_locked()["acquire_wait"].summary(),
            hold=self._hold_times.summary(),
            creation=self._creation_times.summary(),
        )

    def _histograms_locked(self) -> dict[str, Histogram]:
        """Copies of the duration histograms; the acquisitions that never waited (not
        recorded one by one on the hot path) count as zero waits."""
        unrecorded = max(0, self._acquired - self._served_waiters)
        return {
            "acquire_wait": self._wait_times.record_zeros(unrecorded),
            "hold": self._hold_times.copy(),
            "creation": self._creation_times.copy(),
        }

    def _describe_locked(self) -> str:
        return (
            f"size={self._size}/{self._max_size}, in_use={self._in_use_locked()}, "
            f"waiting={len(self._waiters)}"
        )
