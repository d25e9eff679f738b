"""The asyncio container: the same YAML and the same override point as the threaded one,
with an async resource that `init_resources()` builds and `shutdown_resources()` closes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from dependency_injector import providers

from producer_pool import AsyncProducerPool
from producer_pool.wiring.containers import AsyncContainer, create_container
from tests.fakes import CountingFactory


def async_numbers() -> Callable[[], Awaitable[int]]:
    """An `async def` factory of ints, as the tests' override."""
    numbers = CountingFactory()

    async def make() -> int:
        return numbers()

    return make


@pytest.fixture
async def container() -> AsyncIterator[AsyncContainer]:
    container = create_container(container_class=AsyncContainer)
    container.async_producer_factory.override(providers.Object(async_numbers()))
    await container.init_resources()
    yield container
    await container.shutdown_resources()


async def test_overriding_only_the_factory_gives_a_working_async_pool(container):
    pool = await container.async_pool()
    assert isinstance(pool, AsyncProducerPool)
    async with pool.acquire() as first, pool.acquire() as second:
        assert (first, second) == (0, 1)
    assert pool is await container.async_pool()
    assert pool.stats().max_size == container.settings().pool.max_size


class AsyncRecordingSender:
    """An aiokafka stand-in: `send` queues and returns the delivery future."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []

    async def send(self, topic, value=None, key=None, headers=None):
        self.sent.append((topic, value, key))
        delivery = asyncio.get_running_loop().create_future()
        delivery.set_result(f"offset-{len(self.sent) - 1}")
        return delivery


async def test_the_async_publisher_returns_each_acknowledgement():
    sender = AsyncRecordingSender()
    container = create_container(container_class=AsyncContainer)

    async def factory() -> AsyncRecordingSender:
        return sender

    container.async_producer_factory.override(providers.Object(factory))
    await container.init_resources()
    try:
        publisher = await container.async_publisher()
        assert await publisher.publish({"order": 1}, key="7") == "offset-0"
        assert await publisher.publish_many([1, 2]) == ["offset-1", "offset-2"]
        topic = container.settings().publisher.topic
        assert sender.sent == [
            (topic, b'{"order":1}', b"7"),
            (topic, b"1", None),
            (topic, b"2", None),
        ]
        assert (await container.async_pool()).stats().acquired == 2
    finally:
        await container.shutdown_resources()


async def test_shutdown_resources_closes_the_async_pool(container):
    pool = await container.async_pool()
    async with pool.acquire():
        pass
    await container.shutdown_resources()
    stats = pool.stats()
    assert pool.closed and (stats.created, stats.destroyed) == (1, 1)


async def test_the_threaded_container_stays_synchronous():
    threaded = create_container()
    threaded.producer_factory.override(providers.Object(CountingFactory()))
    assert threaded.init_resources() is None  # no coroutine for threaded services
    threaded.shutdown_resources()
