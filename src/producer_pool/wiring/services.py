"""`EventPublisher`: the service code a web or worker process calls to publish events.

It takes plain constructor arguments and knows nothing of the container, so business code
stays testable without dependency injection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from ..core.async_pool import AsyncProducerPool
from ..core.pool import ProducerPool

__all__ = ["AsyncEventPublisher", "EventPublisher", "Header", "json_serializer"]

Header = tuple[str, bytes]
P = TypeVar("P")


class _Sender(Protocol):
    def send(self, topic: str, value: Any = ..., key: Any = ..., headers: Any = ...) -> Any: ...


class _AsyncSender(Protocol):
    """aiokafka's shape: `send` queues the message and returns its delivery future."""

    def send(
        self, topic: str, value: Any = ..., key: Any = ..., headers: Any = ...
    ) -> Awaitable[Awaitable[Any]]: ...


def json_serializer(value: Any) -> bytes:
    """Compact UTF-8 JSON: the default wire format for events."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _key_bytes(key: str | bytes | None) -> bytes | None:
    return key.encode() if isinstance(key, str) else key


class _Publisher(Generic[P]):
    """A topic, a serializer and a pool: what both publishers hold."""

    def __init__(
        self, pool: P, topic: str, serializer: Callable[[Any], bytes] = json_serializer
    ) -> None:
        self._pool = pool
        self.topic = topic
        self._serialize = serializer

    def __repr__(self) -> str:
        return f"<{type(self).__name__} topic={self.topic!r} pool={self._pool!r}>"


class EventPublisher(_Publisher[ProducerPool[Any]]):
    """Publish values to one topic through a pool; never keeps a producer beyond a call."""

    def publish(
        self,
        value: Any,
        key: str | bytes | None = None,
        headers: Sequence[Header] | None = None,
    ) -> Any:
        """Send one value; returns the delivery future (`.get(timeout)` waits for the ack)."""
        payload = self._serialize(value)
        with self._pool.acquire() as producer:
            sender: _Sender = producer
            return sender.send(
                self.topic, value=payload, key=_key_bytes(key), headers=list(headers or ())
            )

    def publish_many(self, values: Iterable[Any], key: str | bytes | None = None) -> list[Any]:
        """Send a batch under one lease (cheaper than one lease per value); returns futures."""
        payloads = [self._serialize(value) for value in values]
        key_bytes = _key_bytes(key)
        with self._pool.acquire() as producer:
            sender: _Sender = producer
            return [sender.send(self.topic, value=p, key=key_bytes) for p in payloads]


class AsyncEventPublisher(_Publisher[AsyncProducerPool[Any]]):
    """`EventPublisher` for asyncio services, on an `AsyncProducerPool` of aiokafka producers.

    The lease covers only queueing the message; the acknowledgement is awaited after the
    producer went back, so a slow broker never holds a producer per request.
    """

    async def publish(
        self,
        value: Any,
        key: str | bytes | None = None,
        headers: Sequence[Header] | None = None,
    ) -> Any:
        """Send one value and wait for the broker's acknowledgement; returns its metadata."""
        payload = self._serialize(value)
        async with self._pool.acquire() as producer:
            sender: _AsyncSender = producer
            delivery = await sender.send(
                self.topic, value=payload, key=_key_bytes(key), headers=list(headers or ())
            )
        return await delivery

    async def publish_many(
        self, values: Iterable[Any], key: str | bytes | None = None
    ) -> list[Any]:
        """Send a batch under one lease; returns every acknowledgement, in order."""
        payloads = [self._serialize(value) for value in values]
        key_bytes = _key_bytes(key)
        async with self._pool.acquire() as producer:
            sender: _AsyncSender = producer
            deliveries = [await sender.send(self.topic, value=p, key=key_bytes) for p in payloads]
        return list(await asyncio.gather(*deliveries))
