"""Transactions for every kit: bounded transactional ids, and `transaction(pool)`, the one
transaction flow of both pools."""

from __future__ import annotations

import heapq
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from typing import Any, Protocol, TypeVar, overload

from ..core.async_pool import AsyncProducerPool
from ..core.changes import Changes
from ..core.clock import Deadline
from ..core.fork import reset_after_fork
from ..core.pool import ProducerPool
from ..errors import PoolError

__all__ = [
    "AsyncTransactionalProducer",
    "TransactionalIds",
    "TransactionalProducer",
    "async_transaction",
    "transaction",
]


class TransactionalProducer(Protocol):
    """What kafka-python's and confluent-kafka's producers have in common."""

    def begin_transaction(self) -> Any: ...
    def commit_transaction(self) -> Any: ...
    def abort_transaction(self) -> Any: ...


class AsyncTransactionalProducer(Protocol):
    """What confluent-kafka's AIOProducer and aiokafka's producer have in common."""

    async def begin_transaction(self) -> Any: ...
    async def commit_transaction(self) -> Any: ...
    async def abort_transaction(self) -> Any: ...


P = TypeVar("P", bound=TransactionalProducer)
A = TypeVar("A", bound=AsyncTransactionalProducer)
R = TypeVar("R")

logger = logging.getLogger("producer_pool")

#: How long a replacement waits for its predecessor's id (freed as that one's destroy starts).
_ID_WAIT_SECONDS = 10.0


class TransactionalIds:
    """Hands out `transactional.id`s `{prefix}-{n}` with `n < size`, lowest free first.

    As in Spring Kafka: two producers in the pool never share an id, and the replacement of
    a discarded producer reuses its id, which fences any zombie still holding it. Without a
    stable `prefix`, host + pid is read on each call, so a forked child never shares ids
    with its parent (a forked child's set starts over). Services that need exactly-once
    across restarts set a stable prefix per instance.
    """

    def __init__(
        self, size: int, prefix: str | None = None, *, wait: float = _ID_WAIT_SECONDS
    ) -> None:
        if size < 1:
            raise PoolError(f"transactional id set size must be >= 1 (got {size})")
        self.size = size
        self.stable_prefix = prefix
        self.wait = wait
        self._reset()
        reset_after_fork(self, TransactionalIds._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._freed = Changes(self._lock)
        # Free numbers: those given back (a heap, all below `_unused`) and every number from
        # `_unused` to `size`, never handed out. Not a list of all `size`: a max_size of
        # 10**9 built one of 8 GB before the pool could start (a hang, then MemoryError).
        self._given_back: list[int] = []
        self._unused = 0
        self._held: dict[int, int] = {}  # id(producer) -> n

    def prefix(self) -> str:
        if self.stable_prefix is not None:
            return self.stable_prefix
        return f"{os.uname().nodename}-{os.getpid()}"

    def create(self, make: Callable[[str], R]) -> R:
        """Build a producer with the lowest free id, `make(transactional_id)`.

        The id goes back to the set if `make` fails; otherwise it is held until
        `release_for(producer)`.
        """
        number = self._take(self.wait)
        try:
            producer = make(f"{self.prefix()}-{number}")
        except BaseException:
            self._give_back(number)
            raise
        return self._hold(producer, number)

    async def acreate(self, make: Callable[[str], Awaitable[R]]) -> R:
        """`create` for an asyncio pool, which must never block its loop waiting for an id:
        none is needed, since the pool starts a retired producer's destroy (which frees its
        id at once) before the replacement's creation."""
        number = self._take(0)
        try:
            producer = await make(f"{self.prefix()}-{number}")
        except BaseException:
            self._give_back(number)
            raise
        return self._hold(producer, number)

    def _hold(self, producer: R, number: int) -> R:
        with self._lock:
            self._held[id(producer)] = number
        return producer

    def _take(self, wait: float) -> int:
        """The lowest free number; a replacement may wait briefly for its predecessor's."""
        taken: list[int] = []

        def take() -> bool:
            if self._given_back:
                taken.append(heapq.heappop(self._given_back))
            elif self._unused < self.size:
                taken.append(self._unused)
                self._unused += 1
            return bool(taken)

        if not self._freed.wait_for(take, Deadline(wait)):
            raise PoolError(
                f"all {self.size} transactional ids are in use: the pool's max_size "
                "must not exceed the factory's"
            )
        return taken[0]

    def _give_back(self, number: int) -> None:
        with self._lock:
            heapq.heappush(self._given_back, number)
            self._freed.notify_all_locked()

    def release_for(self, producer: object) -> None:
        """The producer leaves the pool: its number is free for the replacement.

        Called as its destroy starts, not when it ends: a retired producer has no open
        transaction (its lease ended), so the replacement fencing it loses nothing.
        """
        with self._lock:
            number = self._held.pop(id(producer), None)
        if number is not None:
            self._give_back(number)


class _Steps(Protocol):
    """A kit's transaction steps, as the flow below uses them (`ClientKit`'s)."""

    def is_fatal(self, exc: BaseException, producer: Any) -> bool: ...
    def mark_broken(self, producer: Any) -> None: ...
    def begin(self, producer: Any) -> Any: ...
    def commit(self, producer: Any) -> Any: ...
    def abort(self, producer: Any) -> Any: ...


class _Unbounded:
    """The steps of a pool built without a kit (`ProducerPool(factory)` of producers): the
    producer's own methods, as bounded as its client makes them."""

    def __init__(self, is_fatal: Callable[[BaseException, Any], bool]) -> None:
        self.is_fatal = is_fatal

    def mark_broken(self, producer: Any) -> None:
        """Nothing to mark: without a kit, the pool's own check decides."""

    def begin(self, producer: Any) -> Any:
        return producer.begin_transaction()

    def commit(self, producer: Any) -> Any:
        return producer.commit_transaction()

    def abort(self, producer: Any) -> Any:
        return producer.abort_transaction()


def _steps_of(pool: Any, is_fatal: Callable[[BaseException, Any], bool] | None) -> _Steps:
    """The kit the pool was built with (`pool(kit)`: the kit is its factory), else the
    producer's own methods."""
    factory = pool.factory
    if callable(getattr(factory, "commit", None)):
        steps: _Steps = factory
        return steps
    return _Unbounded(is_fatal or (lambda exc, producer: False))


@overload
def transaction(
    pool: AsyncProducerPool[A], *, is_fatal: Callable[[BaseException, A], bool] | None = None
) -> AbstractAsyncContextManager[A]: ...
@overload
def transaction(
    pool: ProducerPool[P], *, is_fatal: Callable[[BaseException, P], bool] | None = None
) -> AbstractContextManager[P]: ...
def transaction(pool: Any, *, is_fatal: Any = None) -> Any:
    """`with transaction(pool) as producer:` (`async with` for an `AsyncProducerPool`)
    leases a producer exclusively and runs one transaction: commit when the block
    succeeds, abort and re-raise when it fails.

    After a fatal error (fenced, say) there is nothing to abort: the error is re-raised
    and the producer is never leased again. A pool built from a kit bounds every step by
    the client's transaction timeout: past it, or when a task is cancelled during a step,
    the producer is discarded (`TransactionTimeout` past the timeout) and the lease is
    back. `is_fatal` is for pools built without a kit.
    """
    steps = _steps_of(pool, is_fatal)
    if isinstance(pool, AsyncProducerPool):
        return _async_transaction(pool, steps)
    return _transaction(pool, steps)


def async_transaction(pool: AsyncProducerPool[A], **options: Any) -> Any:
    """0.1's name of `transaction` for an `AsyncProducerPool`."""
    return transaction(pool, **options)


@contextmanager
def _transaction(pool: ProducerPool[P], steps: _Steps) -> Iterator[P]:
    with pool.acquire() as producer:
        steps.begin(producer)
        try:
            yield producer
        except BaseException as exc:
            if steps.is_fatal(exc, producer):
                steps.mark_broken(producer)
            else:
                _aborted(steps, producer, exc)
            raise
        steps.commit(producer)


@asynccontextmanager
async def _async_transaction(pool: AsyncProducerPool[A], steps: _Steps) -> AsyncIterator[A]:
    async with pool.acquire() as producer:
        await steps.begin(producer)
        try:
            yield producer
        except BaseException as exc:  # a task cancelled in the block aborts too
            if steps.is_fatal(exc, producer):
                steps.mark_broken(producer)
            else:
                await _aborted_async(steps, producer, exc)
            raise
        await steps.commit(producer)


def _aborted(steps: _Steps, producer: Any, cause: BaseException) -> None:
    """Abort after the block failed. Should the abort fail too, a kit has marked the
    producer broken (never leased again), and the block's own error is what the caller
    sees."""
    try:
        steps.abort(producer)
    except Exception as exc:
        logger.warning("aborting after %r failed: %s", cause, exc)


async def _aborted_async(steps: _Steps, producer: Any, cause: BaseException) -> None:
    """`_aborted` for an asyncio pool."""
    try:
        await steps.abort(producer)
    except Exception as exc:
        logger.warning("aborting after %r failed: %s", cause, exc)
