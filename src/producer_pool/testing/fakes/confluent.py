"""Fakes of confluent-kafka's `Producer` and `AIOProducer`, and their kits.

As librdkafka's, a `Producer` serves delivery callbacks (`on_delivery`, `callback`, or the
configuration's) only when polled: `poll()` or `flush()`, each with `(KafkaError | None,
Message)`; an `AIOProducer`'s `produce()` returns a future of the `Message`. Errors are
confluent-kafka's own: `KafkaException(KafkaError(_FENCED, fatal=True))` for a fence,
`_MSG_TIMED_OUT` for a message that failed, `_PURGE_QUEUE` for one purged or closed away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

from confluent_kafka import KafkaError, KafkaException, Message

from ...clients import confluent, confluent_aio
from ...core.clock import Deadline
from ...core.stats import DeliveryCounts
from ._asyncio import AsyncDeliveries
from ._core import ClientErrors, FakeProducer
from ._kit import TIMEOUTS, AsyncFakeKit, FakeKit, SyncFakeKit
from .broker import Delivery, FakeBroker, as_headers, now_ms

__all__ = ["FakeAIOProducer", "FakeConfluentAIOKit", "FakeConfluentKit", "FakeConfluentProducer"]


def _error(code: int, **flags: bool) -> Callable[[str], BaseException]:
    return lambda reason: KafkaException(KafkaError(code, reason, **flags))


ERRORS = ClientErrors(
    closed=RuntimeError,
    fenced=_error(KafkaError._FENCED, fatal=True),
    state=_error(KafkaError._STATE),
    timeout=_error(KafkaError._TIMED_OUT, retriable=True),
)

#: `AIOProducer.produce` refuses a `headers` argument, whatever its value.
_NO_HEADERS: Any = object()

#: Failure reasons of the fake that are a purge in librdkafka's words.
_PURGED = ("closed", "aborted", "purged")


def _delivery_error(reason: str) -> KafkaError:
    if any(word in reason for word in _PURGED):
        return KafkaError(KafkaError._PURGE_QUEUE, reason)
    return KafkaError(KafkaError._MSG_TIMED_OUT, reason, retriable=True)


def _message(delivery: Delivery, error: KafkaError | None) -> Message:
    record = delivery.record
    return Message(
        topic=delivery.topic,
        partition=delivery.partition,
        offset=record.offset if record is not None else -1001,
        key=delivery.key,
        value=delivery.value,
        headers=list(delivery.headers) or None,
        error=error,
        timestamp=(1, delivery.timestamp_ms),
    )


def _as_bytes(data: Any, what: str) -> bytes | None:
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    raise TypeError(f"{what} must be str or bytes, not {type(data).__name__}")


class _FakeLibrdkafka(FakeProducer):
    """What both confluent fakes share: configuration, produce's arguments, transactions."""

    ERRORS = ERRORS

    def __init__(
        self,
        config: dict[str, Any],
        broker: FakeBroker | None = None,
        deliveries: DeliveryCounts | None = None,
    ) -> None:
        self.config = dict(config)
        super().__init__(broker, deliveries, config.get("transactional.id"))
        #: The sync producer's delivery reports not yet polled; the async one's futures.
        self._reports: list[tuple[Callable[..., Any] | None, KafkaError | None, Message]] = []
        #: Reports taken by a `poll()` whose callbacks are still running: librdkafka counts
        #: a message in `len()` (and `flush()` waits for it) until its callback returned.
        self._serving = 0
        self._futures = AsyncDeliveries()

    def _send(
        self,
        topic: str,
        value: Any,
        key: Any,
        partition: int,
        timestamp: int,
        headers: Any,
        on_settled: Callable[[Delivery], None],
    ) -> None:
        if self._fake_core.closed:
            raise RuntimeError("Producer has been closed")
        self._fake_core.send(
            topic,
            _as_bytes(key, "key"),
            _as_bytes(value, "value"),
            as_headers(headers),
            None if partition < 0 else partition,
            timestamp or now_ms(),
            on_settled,
        )

    def _commit(self, timeout: float | None) -> None:
        if not self._fake_core.commit(None if timeout is None or timeout < 0 else timeout):
            raise ERRORS.timeout("commit_transaction timed out")

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        return None


class FakeConfluentProducer(_FakeLibrdkafka):
    """In-memory `confluent_kafka.Producer`: what it produces goes to a `FakeBroker`."""

    def produce(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int = -1,
        on_delivery: Callable[..., Any] | None = None,
        callback: Callable[..., Any] | None = None,
        timestamp: int = 0,
        headers: Any = None,
    ) -> None:
        report = on_delivery or callback or self.config.get("on_delivery")

        def settled(delivery: Delivery) -> None:
            error = None if delivery.failure is None else _delivery_error(delivery.failure)
            with self._fake_core.broker.changed:
                self._reports.append((report, error, _message(delivery, error)))
                self._fake_core.broker.changed.notify_all()

        self._send(topic, value, key, partition, timestamp, headers, settled)

    def poll(self, timeout: float | None = None) -> int:
        """Serve the delivery reports ready (waiting up to `timeout` for a first one)."""
        wait = None if timeout is None or timeout < 0 else timeout
        changed = self._fake_core.broker.changed
        with changed:
            changed.wait_for(lambda: bool(self._reports), wait)
            reports, self._reports = self._reports, []
            self._serving += len(reports)
        try:
            for report, error, message in reports:
                self._count(error is None)
                if report is not None:
                    report(error, message)
        finally:
            with changed:
                self._serving -= len(reports)
                changed.notify_all()
        return len(reports)

    def flush(self, timeout: float | None = None) -> int:
        """Wait for every message's result, serving reports (and for those another thread
        is serving); how many are still queued."""
        wait = None if timeout is None or timeout < 0 else timeout
        left = self._fake_core.flush(wait)
        self.poll(0)
        with self._fake_core.broker.changed:
            self._fake_core.broker.changed.wait_for(lambda: not self._serving, wait)
        return left

    def __len__(self) -> int:
        with self._fake_core.broker.changed:
            return len(self._fake_core.pending) + len(self._reports) + self._serving

    def purge(self, in_queue: bool = True, in_flight: bool = True, blocking: bool = True) -> None:
        self._fake_core.abandon("purged")

    def close(self, timeout: float | None = None) -> None:
        self._fake_core.close(0)

    def init_transactions(self, timeout: float | None = None) -> None:
        self._fake_core.init_transactions()

    def begin_transaction(self) -> None:
        self._fake_core.begin()

    def commit_transaction(self, timeout: float | None = None) -> None:
        self._commit(timeout)
        self.poll(0)

    def abort_transaction(self, timeout: float | None = None) -> None:
        self._fake_core.abort()
        self.poll(0)


class FakeAIOProducer(_FakeLibrdkafka):
    """In-memory `confluent_kafka.aio.AIOProducer`: `await produce(...)` gives a future of
    the `Message` (or of its `KafkaException`)."""

    async def produce(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int = -1,
        timestamp: int = 0,
        headers: Any = _NO_HEADERS,
    ) -> asyncio.Future[Message]:
        if headers is not _NO_HEADERS:  # even None, as AIOProducer's
            raise NotImplementedError(
                "Headers are not supported in AIOProducer batch mode. Use the synchronous "
                "Producer.produce() method if headers are required."
            )
        future = self._futures.new()

        def settled(delivery: Delivery) -> None:
            error = None if delivery.failure is None else _delivery_error(delivery.failure)

            def settle() -> None:
                self._count(error is None)
                if not future.done():
                    if error is None:
                        future.set_result(_message(delivery, None))
                    else:
                        future.set_exception(KafkaException(error))

            self._futures.resolve(future, settle)

        self._send(topic, value, key, partition, timestamp, None, settled)
        return future

    async def flush(self, timeout: float | None = None) -> int:
        await self._futures.wait(None if timeout is None or timeout < 0 else timeout)
        return len(self._futures.futures)

    async def poll(self, timeout: float = 0) -> int:
        await asyncio.sleep(0)
        return 0

    async def purge(self, in_queue: bool = True, in_flight: bool = True) -> None:
        self._fake_core.abandon("purged")
        await asyncio.sleep(0)

    async def close(self) -> None:
        self._fake_core.close(0)
        await asyncio.sleep(0)

    async def init_transactions(self, timeout: float | None = None) -> None:
        self._fake_core.init_transactions()

    async def start(self) -> None:
        """What the kit does to a new producer (no such call on AIOProducer)."""
        if self._fake_core.transactional_id is not None:
            await self.init_transactions()

    async def begin_transaction(self) -> None:
        self._fake_core.begin()

    async def commit_transaction(self, timeout: float | None = None) -> None:
        if self._futures.futures:
            await self._futures.wait(None if timeout is None or timeout < 0 else timeout)
        self._commit(0)

    async def abort_transaction(self, timeout: float | None = None) -> None:
        self._fake_core.abort()
        await asyncio.sleep(0)


class _ConfluentOptions(FakeKit):
    """librdkafka's names, for both confluent fake kits."""

    SERVERS_OPTION = "bootstrap.servers"
    TRANSACTIONAL_ID_OPTION = "transactional.id"
    TRANSACTION_TIMEOUT_SETTING = "transaction.timeout.ms"
    DRAIN_SETTING = "message.timeout.ms"
    FATAL_ERRORS: ClassVar[tuple[type[BaseException], ...]] = TIMEOUTS

    def is_fatal(self, exc: BaseException, producer: object = None) -> bool:
        """A fence, as librdkafka says it: a fatal `KafkaError`."""
        if isinstance(exc, KafkaException) and exc.args and exc.args[0].fatal():
            return True
        return super().is_fatal(exc, producer)

    def _config(self, transactional_id: str | None) -> dict[str, Any]:
        options = self._with_id("transactional.id", transactional_id)
        return {key.replace("_", "."): value for key, value in options.items()}


class FakeConfluentKit(_ConfluentOptions, SyncFakeKit):
    """The confluent kit, with `FakeConfluentProducer`s: `pool(FakeConfluentKit())`. As the
    real kit's, each producer is polled by a poller thread of its own until its destroy."""

    name = "confluent"
    send = staticmethod(confluent.send)

    def _new_producer(self, transactional_id: str | None) -> FakeConfluentProducer:
        producer = FakeConfluentProducer(
            self._config(transactional_id), self.broker, self.deliveries
        )
        confluent.DeliveryPoller.start(producer)
        return producer

    def _served(self, producer: Any) -> None:
        producer.poll(0)  # results reach the caller (and the count) only when polled

    def close(
        self, producer: object, timeout: float | None = None, *, deadline: Deadline | None = None
    ) -> None:
        confluent.DeliveryPoller.stop(producer)
        super().close(producer, timeout, deadline=deadline)


class FakeConfluentAIOKit(_ConfluentOptions, AsyncFakeKit):
    """The confluent-aio kit, with `FakeAIOProducer`s: `async_pool(FakeConfluentAIOKit())`."""

    name = "confluent-aio"
    send = staticmethod(confluent_aio.send)

    def _new_producer(self, transactional_id: str | None) -> FakeAIOProducer:
        return FakeAIOProducer(self._config(transactional_id), self.broker, self.deliveries)
