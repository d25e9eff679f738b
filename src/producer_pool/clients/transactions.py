"""Client-agnostic transaction support: bounded transactional ids and `transaction(pool)`."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol, TypeVar

from ..core.async_pool import AsyncProducerPool
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
        self._freed = threading.Condition(threading.Lock())
        self._free = list(range(self.size - 1, -1, -1))  # pop() yields the lowest
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
        with self._freed:
            self._held[id(producer)] = number
        return producer

    def _take(self, wait: float) -> int:
        """The lowest free number; a replacement may wait briefly for its predecessor's."""
        with self._freed:
            if not self._freed.wait_for(lambda: self._free, wait):
                raise PoolError(
                    f"all {self.size} transactional ids are in use: the pool's max_size "
                    "must not exceed the factory's"
                )
            return self._free.pop()

    def _give_back(self, number: int) -> None:
        with self._freed:
            self._free.append(number)
            self._free.sort(reverse=True)
            self._freed.notify()

    def release_for(self, producer: object) -> None:
        """The producer leaves the pool: its number is free for the replacement.

        Called as its destroy starts, not when it ends: a retired producer has no open
        transaction (its lease ended), so the replacement fencing it loses nothing.
        """
        with self._freed:
            number = self._held.pop(id(producer), None)
        if number is not None:
            self._give_back(number)


@contextmanager
def transaction(
    pool: ProducerPool[P], *, is_fatal: Callable[[BaseException, P], bool] = lambda exc, p: False
) -> Iterator[P]:
    """Lease a producer exclusively and run one transaction on it.

    Commits when the block succeeds; aborts and re-raises when it fails. After a fatal
    error (fenced, say) there is nothing to abort: the error is re-raised as it is, and the
    pool's `discard_on` or its check on the next checkout drops the producer.
    """
    with pool.acquire() as producer:
        producer.begin_transaction()
        try:
            yield producer
        except BaseException as exc:
            if not is_fatal(exc, producer):
                producer.abort_transaction()
            raise
        producer.commit_transaction()


@asynccontextmanager
async def async_transaction(
    pool: AsyncProducerPool[A],
    *,
    is_fatal: Callable[[BaseException, A], bool] = lambda exc, p: False,
    translate: Callable[[Exception], Exception] = lambda exc: exc,
) -> AsyncIterator[A]:
    """`transaction` for an `AsyncProducerPool`: `async with` commits or aborts.

    A task cancelled inside the block aborts the transaction like any other error.
    `translate` maps a client's error to the one to raise, inside the lease, so that the
    pool's `discard_on` sees the translated error.
    """
    async with pool.acquire() as producer:
        try:
            await producer.begin_transaction()
            try:
                yield producer
            except BaseException as exc:
                if not is_fatal(exc, producer):
                    await producer.abort_transaction()
                raise
            await producer.commit_transaction()
        except Exception as exc:
            translated = translate(exc)
            if translated is exc:
                raise
            raise translated from None
