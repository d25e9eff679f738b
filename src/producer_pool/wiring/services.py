"""`EventPublisher`: the service code a web or worker process calls to publish events.

It takes plain constructor arguments and knows nothing of the container, so business code
stays testable without dependency injection. How a message is sent is the kit's
(`ClientKit.send`): a publisher asks the pool's kit, so it works for any client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from ..clients.kit import Header, kit_class
from ..core.async_pool import AsyncProducerPool
from ..core.pool import ProducerPool
from ..errors import ConfigError

__all__ = ["AsyncEventPublisher", "EventPublisher", "Header", "json_serializer"]

P = TypeVar("P")


def json_serializer(value: Any) -> bytes:
    """Compact UTF-8 JSON: the default wire format for events."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _key_bytes(key: str | bytes | None) -> bytes | None:
    return key.encode() if isinstance(key, str) else key


def _kit_of(pool: object, client: str) -> Any:
    """The kit that sends: the pool's own (`pool(kit)`: the kit is its factory), else the
    kit class of `client` (a pool around a factory of the client's producers)."""
    factory = getattr(pool, "factory", None)
    if callable(getattr(factory, "send", None)):
        return factory
    return kit_class(client)


class _Publisher(Generic[P]):
    """A topic, a serializer, a pool and its kit (which says how to send): what both
    publishers hold."""

    #: Whether it publishes through an asyncio kit; the client of a pool without a kit.
    IS_ASYNC: ClassVar[bool]
    DEFAULT_CLIENT: ClassVar[str]

    def __init__(
        self,
        pool: P,
        topic: str,
        serializer: Callable[[Any], bytes] = json_serializer,
        client: str | None = None,
    ) -> None:
        """`client` names the client of a pool built around a factory of its producers
        (not a kit); a pool built with `pool(kit)` sends through its kit."""
        self._pool = pool
        self.topic = topic
        self._serialize = serializer
        kit = _kit_of(pool, client or self.DEFAULT_CLIENT)
        if bool(kit.is_async) != self.IS_ASYNC:
            other = "AsyncEventPublisher" if kit.is_async else "EventPublisher"
            raise ConfigError(f"{type(self).__name__}: the {kit.name} client needs {other}")
        self.client: str = kit.name
        self._send: Callable[..., Any] = kit.send

    def __repr__(self) -> str:
        return f"<{type(self).__name__} topic={self.topic!r} pool={self._pool!r}>"


class EventPublisher(_Publisher[ProducerPool[Any]]):
    """Publish values to one topic through a pool; never keeps a producer beyond a call.

    The delivery future is the client's (kafka-python's `FutureRecordMetadata`; for
    confluent a `concurrent.futures.Future` of the delivered message)."""

    IS_ASYNC = False
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
            return self._send(producer, self.topic, payload, _key_bytes(key), headers or ())

    def publish_many(self, values: Iterable[Any], key: str | bytes | None = None) -> list[Any]:
        """Send a batch under one lease (cheaper than one lease per value); returns futures."""
        payloads = [self._serialize(value) for value in values]
        key_bytes = _key_bytes(key)
        with self._pool.acquire() as producer:
            return [self._send(producer, self.topic, p, key_bytes) for p in payloads]


class AsyncEventPublisher(_Publisher[AsyncProducerPool[Any]]):
    """`EventPublisher` for asyncio services, on an `AsyncProducerPool` of an asyncio kit
    (aiokafka by default, confluent `AIOProducer`s, ...).

    The lease covers only queueing the message; the acknowledgement is awaited after the
    producer went back, so a slow broker never holds a producer per request.
    """

    IS_ASYNC = True
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
                producer, self.topic, payload, _key_bytes(key), headers or ()
            )
        return await delivery

    async def publish_many(
        self, values: Iterable[Any], key: str | bytes | None = None
    ) -> list[Any]:
        """Send a batch under one lease; returns every acknowledgement, in order."""
        payloads = [self._serialize(value) for value in values]
        key_bytes = _key_bytes(key)
        async with self._pool.acquire() as producer:
            deliveries = [await self._send(producer, self.topic, p, key_bytes) for p in payloads]
        return list(await asyncio.gather(*deliveries))
