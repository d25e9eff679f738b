"""Client-agnostic transaction support: bounded transactional ids and `transaction(pool)`."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from .errors import PoolError
from .pool import ProducerPool

__all__ = ["TransactionalIds", "TransactionalProducer", "transaction"]


class TransactionalProducer(Protocol):
    """What kafka-python's and confluent-kafka's producers have in common."""

    def begin_transaction(self) -> Any: ...
    def commit_transaction(self) -> Any: ...
    def abort_transaction(self) -> Any: ...


P = TypeVar("P", bound=TransactionalProducer)
R = TypeVar("R")


class TransactionalIds:
    """Hands out `transactional.id`s `{prefix}-{n}` with `n < size`, lowest free first.

    As in Spring Kafka: two live producers never share an id, and the replacement of a
    discarded producer reuses its id, which fences any zombie still holding it. Without a
    stable `prefix`, host + pid is read on each call, so a forked child never shares ids
    with its parent. Services that need exactly-once across restarts set a stable prefix
    per instance.
    """

    def __init__(self, size: int, prefix: str | None = None) -> None:
        if size < 1:
            raise PoolError(f"transactional id set size must be >= 1 (got {size})")
        self.size = size
        self.stable_prefix = prefix
        self._reset()
        _live_id_sets.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
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
        number = self._take()
        try:
            producer = make(f"{self.prefix()}-{number}")
        except BaseException:
            self._give_back(number)
            raise
        with self._lock:
            self._held[id(producer)] = number
        return producer

    def _take(self) -> int:
        with self._lock:
            if not self._free:
                raise PoolError(
                    f"all {self.size} transactional ids are in use: the pool's max_size "
                    "must not exceed the factory's"
                )
            return self._free.pop()

    def _give_back(self, number: int) -> None:
        with self._lock:
            self._free.append(number)
            self._free.sort(reverse=True)

    def release_for(self, producer: object) -> None:
        """The producer was destroyed: its number is free for the replacement."""
        with self._lock:
            number = self._held.pop(id(producer), None)
        if number is not None:
            self._give_back(number)


@contextmanager
def transaction(
    pool: ProducerPool[P], *, is_fatal: Callable[[BaseException], bool] = lambda exc: False
) -> Iterator[P]:
    """Lease a producer exclusively and run one transaction on it.

    Commits when the block succeeds; aborts and re-raises when it fails. After a fatal
    error (fenced, say) there is nothing to abort: the error is re-raised as it is and the
    pool's `discard_on` drops the producer.
    """
    with pool.acquire() as producer:
        producer.begin_transaction()
        try:
            yield producer
        except BaseException as exc:
            if not is_fatal(exc):
                producer.abort_transaction()
            raise
        producer.commit_transaction()


# After fork the child's pools forget the parent's producers, so their ids are free again
# (and, without a stable prefix, the child's ids differ from the parent's anyway).
_live_id_sets: weakref.WeakSet[TransactionalIds] = weakref.WeakSet()


def _reset_in_child() -> None:
    for ids in list(_live_id_sets):
        ids._reset()


os.register_at_fork(after_in_child=_reset_in_child)
