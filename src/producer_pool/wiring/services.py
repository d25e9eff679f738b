"""`EventPublisher`: the service code a web or worker process calls to publish events.

It takes plain constructor arguments and knows nothing of the container, so business code
stays testable without dependency injection.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, ClassVar, Generic, TypeVar

from ..core.async_pool import AsyncProducerPool
from ..core.pool import ProducerPool
from ..errors import ConfigError

__all__ = ["AsyncEventPublisher", "EventPublisher", "Header", "json_serializer"]

Header = tuple[str, bytes]
"""A Kafka record header: its name and its value."""
P = TypeVar("P")
T = TypeVar("T")


#: How long a send may wait for room in a full send queue (kafka-python's `max_block_ms`).
QUEUE_FULL_WAIT = 60.0

Send = Callable[[Any, str, bytes, "bytes | None", "list[Header]"], Any]
AsyncSend = Callable[[Any, str, bytes, "bytes | None", "list[Header]"], Awaitable[Any]]


def _send_kafka_python(
    producer: Any, topic: str, value: bytes, key: bytes | None, headers: list[Header]
) -> Any:
    """kafka-python (and any producer of its shape): `send` returns the delivery future."""
    return producer.send(topic, value=value, key=key, headers=headers)


def _send_confluent(
    producer: Any, topic: str, value: bytes, key: bytes | None, headers: list[Header]
) -> Future[Any]:
    """confluent's `Producer`: `produce` with a callback that resolves a future (with the
    message, or the `KafkaException`). librdkafka serves callbacks when polled: at this
    and every later send, and when the pool flushes the producer. A full send queue is
    polled until it has room, for at most `QUEUE_FULL_WAIT`."""
    from confluent_kafka import KafkaException

    delivery: Future[Any] = Future()

    def on_delivery(error: Any, message: Any) -> None:
        if error is None:
            delivery.set_result(message)
        else:
            delivery.set_exception(KafkaException(error))

    deadline = time.monotonic() + QUEUE_FULL_WAIT
    while True:
        try:
            producer.produce(topic, value=value, key=key, headers=headers, on_delivery=on_delivery)
            break
        except BufferError:
            if time.monotonic() > deadline:
                raise
            producer.poll(0.1)
    producer.poll(0)
    return delivery


async def _send_aiokafka(
    producer: Any, topic: str, value: bytes, key: bytes | None, headers: list[Header]
) -> Any:
    """aiokafka (and any producer of its shape): `send` queues and returns the future."""
    return await producer.send(topic, value=value, key=key, headers=headers)


async def _send_confluent_aio(
    producer: Any, topic: str, value: bytes, key: bytes | None, headers: list[Header]
) -> Any:
    """confluent's `AIOProducer`: `produce` queues and returns the future. It takes no
    headers (confluent-kafka 2.16 raises `NotImplementedError` for any)."""
    extra = {"headers": headers} if headers else {}
    return await producer.produce(topic, value=value, key=key, **extra)


#: How each client sends, by its name in `KITS`.
SENDERS: dict[str, Send] = {"kafka-python": _send_kafka_python, "confluent": _send_confluent}
ASYNC_SENDERS: dict[str, AsyncSend] = {
    "aiokafka": _send_aiokafka,
    "confluent-aio": _send_confluent_aio,
}


def _sender(senders: Mapping[str, T], client: str) -> T:
    if client not in senders:
        raise ConfigError(
            f"no publisher for the {client} client here (known: {', '.join(senders)})"
        )
    return senders[client]


def json_serializer(value: Any) -> bytes:
    """Compact UTF-8 JSON: the default wire format for events."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _key_bytes(key: str | bytes | None) -> bytes | None:
    return key.encode() if isinstance(key, str) else key


class _Publisher(Generic[P]):
    """A topic, a serializer, a pool and its client (which says how to send): what both
    publishers hold."""

    #: How each client sends, and the client of a publisher that names none.
    SENDERS: ClassVar[Mapping[str, Callable[..., Any]]]
    DEFAULT_CLIENT: ClassVar[str]

    def __init__(
        self,
        pool: P,
        topic: str,
        serializer: Callable[[Any], bytes] = json_serializer,
        client: str | None = None,
    ) -> None:
        self._pool = pool
        self.topic = topic
        self._serialize = serializer
        self.client = client or self.DEFAULT_CLIENT
        self._send = _sender(self.SENDERS, self.client)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} topic={self.topic!r} pool={self._pool!r}>"


class EventPublisher(_Publisher[ProducerPool[Any]]):
    """Publish values to one topic through a pool; never keeps a producer beyond a call.

    `client` names the pool's client (kafka-python by default; confluent): its delivery
    future is the client's (kafka-python's `FutureRecordMetadata`; for confluent a
    `concurrent.futures.Future` of the delivered message)."""

    SENDERS = SENDERS
    DEFAULT_CLIENT = "kafka-python"

    def publish(
        self,
        value: Any,
        key: str | bytes | None = None,
        headers: Sequence[Header] | None = None,
    ) -> Any:
        """Send one value; returns the delivery future (`.get(timeout)` waits for the ack)."""
        payload = self._serialize(value)
        with self._pool.acquire() as producer:
            return self._send(producer, self.topic, payload, _key_bytes(key), list(headers or ()))

    def publish_many(self, values: Iterable[Any], key: str | bytes | None = None) -> list[Any]:
        """Send a batch under one lease (cheaper than one lease per value); returns futures."""
        payloads = [self._serialize(value) for value in values]
        key_bytes = _key_bytes(key)
        with self._pool.acquire() as producer:
            return [self._send(producer, self.topic, p, key_bytes, []) for p in payloads]


class AsyncEventPublisher(_Publisher[AsyncProducerPool[Any]]):
    """`EventPublisher` for asyncio services, on an `AsyncProducerPool` of aiokafka
    producers (or confluent `AIOProducer`s: `client="confluent-aio"`).

    The lease covers only queueing the message; the acknowledgement is awaited after the
    producer went back, so a slow broker never holds a producer per request.
    """

    SENDERS = ASYNC_SENDERS
    DEFAULT_CLIENT = "aiokafka"

    async def publish(
        self,
        value: Any,
        key: str | bytes | None = None,
        headers: Sequence[Header] | None = None,
    ) -> Any:
        """Send one value and wait for the broker's acknowledgement; returns its metadata."""
        payload = self._serialize(value)
        async with self._pool.acquire() as producer:
            delivery = await self._send(
                producer, self.topic, payload, _key_bytes(key), list(headers or ())
            )
        return await delivery

    async def publish_many(
        self, values: Iterable[Any], key: str | bytes | None = None
    ) -> list[Any]:
        """Send a batch under one lease; returns every acknowledgement, in order."""
        payloads = [self._serialize(value) for value in values]
        key_bytes = _key_bytes(key)
        async with self._pool.acquire() as producer:
            deliveries = [
                await self._send(producer, self.topic, p, key_bytes, []) for p in payloads
            ]
        return list(await asyncio.gather(*deliveries))
