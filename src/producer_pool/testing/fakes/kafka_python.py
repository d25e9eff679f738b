"""A fake of kafka-python's `KafkaProducer`, and its kit (`FakeKafkaPythonKit`).

`send` returns a future with kafka-python's own callbacks and `get(timeout)`, resolved with
its `RecordMetadata` (or its `KafkaTimeoutError`); serializers, header checks, `flush`,
`close` and transactions (`init_transactions`, `begin_transaction`, `commit_transaction`,
`abort_transaction`, fenced with `ProducerFencedError`) behave as kafka-python's do.
"""

from __future__ import annotations

import threading
from typing import Any

from ...clients import _quiet_kafka  # noqa: F401 # isort: skip - first: kafka-python warns
from kafka import errors as kafka_errors
from kafka.future import Future
from kafka.producer.future import RecordMetadata
from kafka.structs import TopicPartition

from ...clients import kafka_python as kit
from ._core import ClientErrors, KeywordFakeProducer, serialized
from ._kit import TIMEOUTS, SyncFakeKit
from .broker import Delivery, now_ms

__all__ = ["FakeKafkaProducer", "FakeKafkaPythonKit"]

ERRORS = ClientErrors(
    closed=kafka_errors.IllegalStateError,
    fenced=kafka_errors.ProducerFencedError,
    state=kafka_errors.IllegalStateError,
    timeout=kafka_errors.KafkaTimeoutError,
)


class FakeFuture(Future):  # type: ignore[misc]
    """kafka-python's `Future` plus the `get(timeout)` of its `FutureRecordMetadata`."""

    def __init__(self) -> None:
        super().__init__()
        self._settled = threading.Event()

    def success(self, value: Any) -> Any:
        try:
            return super().success(value)
        finally:
            self._settled.set()

    def failure(self, error: Any) -> Any:
        try:
            return super().failure(error)
        finally:
            self._settled.set()

    def get(self, timeout: float | None = None) -> Any:
        if not self.is_done and not self._settled.wait(timeout):
            raise kafka_errors.KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")
        if self.failed():
            raise self.exception
        return self.value


class FakeKafkaProducer(KeywordFakeProducer):
    """In-memory `KafkaProducer`: what it sends goes to a `FakeBroker`."""

    ERRORS = ERRORS

    @property
    def config(self) -> dict[str, Any]:
        """kafka-python's defaults that the kits read, then the settings given."""
        return {"delivery_timeout_ms": 120_000, "transaction_timeout_ms": 60_000, **self.settings}

    def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> FakeFuture:
        core = self._fake_core
        if core.closed:
            raise kafka_errors.IllegalStateError("KafkaProducer already closed!")
        if value is None and key is None:
            raise ValueError("Need at least one: key or value")
        headers = list(headers or [])
        if not all(isinstance(k, str) and isinstance(v, bytes) for k, v in headers):
            raise TypeError("All headers items must be (str, bytes) tuples")
        key_bytes = serialized(self.config.get("key_serializer"), key, "key")
        value_bytes = serialized(self.config.get("value_serializer"), value, "value")
        future = FakeFuture()
        core.send(
            topic,
            key_bytes,
            value_bytes,
            tuple(headers),
            partition,
            now_ms() if timestamp_ms is None else timestamp_ms,
            lambda delivery: self._resolve(future, delivery),
        )
        return future

    def _resolve(self, future: FakeFuture, delivery: Delivery) -> None:
        record = delivery.record
        self._count(record is not None)
        if record is None:
            future.failure(kafka_errors.KafkaTimeoutError(delivery.failure))
            return
        key_size = len(record.key) if record.key is not None else -1
        value_size = len(record.value) if record.value is not None else -1
        place = TopicPartition(record.topic, record.partition)
        future.success(
            RecordMetadata(
                record.topic,
                record.partition,
                place,
                record.offset,
                record.timestamp_ms,
                None,
                key_size,
                value_size,
                -1,
            )
        )

    def flush(self, timeout: float | None = None) -> None:
        if self._fake_core.flush(timeout):
            raise kafka_errors.KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")

    def close(self, timeout: float | None = None, null_logger: bool = False) -> None:
        self._fake_core.close(timeout)

    def partitions_for(self, topic: str) -> set[int]:
        return set(range(self._fake_core.broker.partitions(topic)))

    def bootstrap_connected(self) -> bool:
        return not self._fake_core.closed

    def metrics(self, raw: bool = False) -> dict[str, Any]:
        return {}

    def init_transactions(self) -> None:
        self._fake_core.init_transactions()

    def begin_transaction(self) -> None:
        self._fake_core.begin()

    def commit_transaction(self) -> None:
        timeout = self.config["transaction_timeout_ms"] / 1000
        if not self._fake_core.commit(timeout):
            raise kafka_errors.KafkaTimeoutError("Timeout expired while committing")

    def abort_transaction(self) -> None:
        self._fake_core.abort()


class FakeKafkaPythonKit(SyncFakeKit):
    """The kafka-python kit, with `FakeKafkaProducer`s: `pool(FakeKafkaPythonKit())`."""

    name = "kafka-python"
    FATAL_ERRORS = (
        kafka_errors.ProducerFencedError,
        kafka_errors.InvalidProducerEpochError,
        *TIMEOUTS,
    )
    send = staticmethod(kit.send)

    def _new_producer(self, transactional_id: str | None) -> FakeKafkaProducer:
        options = self._with_id("transactional_id", transactional_id)
        return FakeKafkaProducer(self.broker, self.deliveries, **options)
