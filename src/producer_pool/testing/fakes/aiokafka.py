"""A fake of aiokafka's `AIOKafkaProducer`, and its kit (`FakeAIOKafkaKit`).

`start()` and `stop()` as aiokafka's (sending before `start()` or after `stop()` is refused),
`send()` gives a future of aiokafka's `RecordMetadata` (or of its `KafkaTimeoutError`),
`send_and_wait()`, `flush()`, serializers, and transactions (`begin_transaction`,
`commit_transaction`, `abort_transaction`, `async with producer.transaction()`), fenced with
`ProducerFenced`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import errors as aiokafka_errors
from aiokafka.structs import RecordMetadata, TopicPartition

from ...clients import aiokafka as kit
from ._asyncio import AsyncDeliveries
from ._core import ClientErrors, KeywordFakeProducer, serialized
from ._kit import TIMEOUTS, AsyncFakeKit
from .broker import Delivery, as_headers, now_ms

__all__ = ["FakeAIOKafkaKit", "FakeAIOKafkaProducer"]

ERRORS = ClientErrors(
    closed=aiokafka_errors.ProducerClosed,
    fenced=aiokafka_errors.ProducerFenced,
    state=aiokafka_errors.IllegalOperation,
    timeout=aiokafka_errors.KafkaTimeoutError,
)


class FakeAIOKafkaProducer(KeywordFakeProducer):
    """In-memory `AIOKafkaProducer`: what it sends goes to a `FakeBroker`."""

    ERRORS = ERRORS
    _started = False

    @functools.cached_property
    def _futures(self) -> AsyncDeliveries:
        return AsyncDeliveries()

    async def start(self) -> None:
        self._started = True
        if self._fake_core.transactional_id is not None:
            self._fake_core.init_transactions()

    async def stop(self) -> None:
        """Deliver what is in flight, then close (as aiokafka's, it waits for them)."""
        if self._fake_core.closed:
            return
        await self._futures.wait(None)
        self._fake_core.close(0)

    async def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Any = None,
    ) -> asyncio.Future[RecordMetadata]:
        if not self._started or self._fake_core.closed:
            raise aiokafka_errors.ProducerClosed()
        future = self._futures.new()

        def settled(delivery: Delivery) -> None:
            self._futures.resolve(future, lambda: self._settle(future, delivery))

        self._fake_core.send(
            topic,
            serialized(self.settings.get("key_serializer"), key, "key"),
            serialized(self.settings.get("value_serializer"), value, "value"),
            as_headers(headers),
            partition,
            now_ms() if timestamp_ms is None else timestamp_ms,
            settled,
        )
        return future

    def _settle(self, future: asyncio.Future[RecordMetadata], delivery: Delivery) -> None:
        record = delivery.record
        self._count(record is not None)
        if future.done():
            return
        if record is None:
            future.set_exception(aiokafka_errors.KafkaTimeoutError(delivery.failure))
            return
        place = TopicPartition(record.topic, record.partition)
        future.set_result(
            RecordMetadata(
                record.topic, record.partition, place, record.offset, record.timestamp_ms, 0, 0
            )
        )

    async def send_and_wait(self, *args: Any, **kwargs: Any) -> RecordMetadata:
        return await (await self.send(*args, **kwargs))

    async def flush(self) -> None:
        await self._futures.wait(None)

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self._fake_core.broker.partitions(topic)))

    async def begin_transaction(self) -> None:
        self._fake_core.begin()

    async def commit_transaction(self) -> None:
        await self._futures.wait(None)
        self._fake_core.commit(0)

    async def abort_transaction(self) -> None:
        self._fake_core.abort()
        await asyncio.sleep(0)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        await self.begin_transaction()
        try:
            yield
        except BaseException:
            await self.abort_transaction()
            raise
        await self.commit_transaction()

    async def __aenter__(self) -> FakeAIOKafkaProducer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


class FakeAIOKafkaKit(AsyncFakeKit):
    """The aiokafka kit, with `FakeAIOKafkaProducer`s: `async_pool(FakeAIOKafkaKit())`."""

    name = "aiokafka"
    DRAIN_SETTING = "request_timeout_ms"
    FATAL_ERRORS = (aiokafka_errors.ProducerFenced, aiokafka_errors.InvalidProducerEpoch, *TIMEOUTS)
    send = staticmethod(kit.send)

    def _new_producer(self, transactional_id: str | None) -> FakeAIOKafkaProducer:
        options = self._with_id("transactional_id", transactional_id)
        return FakeAIOKafkaProducer(self.broker, self.deliveries, **options)
