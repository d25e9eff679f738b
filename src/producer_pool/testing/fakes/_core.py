"""`FakeProducerCore`: what every fake producer shares, whatever its client's API: the
messages it has in flight, its transactions and its transactional id's epoch, closing.

A client's fake wraps it with that client's method names, results and exceptions
(`ClientErrors`), so the same state machine answers kafka-python's, confluent-kafka's and
aiokafka's calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ...core.stats import DeliveryCounts
from .broker import Delivery, FakeBroker, Headers

__all__ = [
    "ClientErrors",
    "FakeProducer",
    "FakeProducerCore",
    "KeywordFakeProducer",
    "serialized",
]


@dataclass(frozen=True)
class ClientErrors:
    """How a client says each failure (each takes a message, returns the exception)."""

    closed: Callable[[str], BaseException]
    fenced: Callable[[str], BaseException]
    state: Callable[[str], BaseException]
    timeout: Callable[[str], BaseException]


class FakeProducerCore:
    """One fake producer's state; its lock is its broker's (one lock, no lock order)."""

    def __init__(
        self, broker: FakeBroker, errors: ClientErrors, transactional_id: str | None = None
    ) -> None:
        self.broker = broker
        self.errors = errors
        self.transactional_id = transactional_id
        self.pending: list[Delivery] = []
        self.closed = False
        #: Why the producer can never be used again (fenced), else None.
        self.fatal: str | None = None
        self._epoch: int | None = None
        self._transaction: int | None = None

    # ------------------------------------------------------------------ sending

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        partition: int | None,
        timestamp_ms: int,
        on_settled: Callable[[Delivery], None],
    ) -> Delivery:
        with self.broker.changed:
            if self.closed:
                raise self.errors.closed("the producer is closed")
            if self.transactional_id is not None:
                self._check_fence()
                if self._transaction is None:
                    raise self.errors.state("a transactional producer sends inside a transaction")
            delivery = Delivery(
                topic,
                self.broker.partition_for(topic, key, partition),
                key,
                value,
                headers,
                timestamp_ms,
                self._transaction,
            )

            def settled(done: Delivery) -> None:
                with self.broker.changed:
                    if done in self.pending:
                        self.pending.remove(done)
                on_settled(done)

            delivery.on_settled = settled
            self.pending.append(delivery)
        self.broker.submit(delivery)
        return delivery

    def flush(self, timeout: float | None) -> int:
        """Wait until nothing is in flight (or `timeout`); how many still are."""
        self.broker.wait_until(lambda: not self.pending, timeout)
        with self.broker.changed:
            return len(self.pending)

    def abandon(self, reason: str) -> int:
        """Fail every message in flight; how many there were."""
        with self.broker.changed:
            pending = list(self.pending)
        self.broker.abandon(pending, reason)
        return len(pending)

    def close(self, timeout: float | None) -> int:
        """Flush within `timeout`, fail what is left, close; how many were left."""
        left = self.flush(timeout)
        if left:
            self.abandon("the producer closed with the message undelivered")
        with self.broker.changed:
            self.closed = True
        return left

    # ------------------------------------------------------------------ transactions

    def init_transactions(self) -> None:
        if self.transactional_id is None:
            raise self.errors.state("transactions need a transactional id")
        with self.broker.changed:
            self._epoch = self.broker.register(self.transactional_id)
            self._transaction = None

    def begin(self) -> None:
        with self.broker.changed:
            self._ready()
            if self._transaction is not None:
                raise self.errors.state("a transaction is already open")
            self._transaction = self.broker.new_transaction()

    def commit(self, timeout: float | None) -> bool:
        """Flush, then commit; False if the flush did not end within `timeout`."""
        with self.broker.changed:
            transaction = self._open()
        if self.flush(timeout):
            return False
        with self.broker.changed:
            self._check_fence()
            self.broker.end_transaction(transaction, commit=True)
            self._transaction = None
        return True

    def abort(self) -> None:
        """Fail what is still in flight, then abort: nothing of it is ever published."""
        with self.broker.changed:
            transaction = self._open()
        self.abandon("the transaction was aborted")
        with self.broker.changed:
            self.broker.end_transaction(transaction, commit=False)
            self._transaction = None

    def _ready(self) -> None:
        if self.closed:
            raise self.errors.closed("the producer is closed")
        if self._epoch is None:
            raise self.errors.state("init_transactions() first")
        self._check_fence()

    def _open(self) -> int:
        self._ready()
        if self._transaction is None:
            raise self.errors.state("no transaction is open")
        return self._transaction

    def _check_fence(self) -> None:
        """A newer producer with this id (or `FakeBroker.fence`) fences this one for good."""
        tid = self.transactional_id
        if self.fatal is None and tid and self._epoch not in (None, self.broker.epoch(tid)):
            self.fatal = f"fenced: a newer producer holds {tid}"
        if self.fatal is not None:
            raise self.errors.fenced(self.fatal)


def serialized(serializer: Callable[[Any], Any] | None, data: Any, what: str) -> bytes | None:
    """`data` through a client's serializer; bytes (or None), as the clients require."""
    data = serializer(data) if serializer is not None and data is not None else data
    if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"Unsupported type for serialized {what}: {type(data)}")
    return bytes(data) if data is not None else None


class FakeProducer:
    """What every fake producer holds: its state, and the delivery counts of its pool."""

    #: How its client says each failure.
    ERRORS: ClassVar[ClientErrors]

    def __init__(
        self,
        broker: FakeBroker | None,
        deliveries: DeliveryCounts | None,
        transactional_id: str | None,
    ) -> None:
        self.deliveries = deliveries
        self._fake_core = FakeProducerCore(
            broker if broker is not None else FakeBroker(), self.ERRORS, transactional_id
        )

    def _count(self, delivered: bool) -> None:
        """One message's result, for the pool (each counted once, when its caller learns it)."""
        if self.deliveries is not None:
            (self.deliveries.on_delivered if delivered else self.deliveries.on_failed)()


class KeywordFakeProducer(FakeProducer):
    """A fake of a client configured by keyword arguments (kafka-python, aiokafka)."""

    def __init__(
        self,
        broker: FakeBroker | None = None,
        deliveries: DeliveryCounts | None = None,
        **settings: Any,
    ) -> None:
        self.settings = settings
        super().__init__(broker, deliveries, settings.get("transactional_id"))
