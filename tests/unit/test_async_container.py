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
        assert (first, second) == (0, 0)  # one producer, shared
    assert pool is await container.async_pool()
    assert pool.stats().max_size == container.settings().pool.max_size


async def test_the_shipped_asyncio_wiring_shares_one_producer(container):
    """Issue 21 defect 8: an asyncio publisher gains nothing from several producers (one
    shared aiokafka producer published 68k msg/s, four in block mode 51k), yet
    AsyncContainer used the YAML's 4 in block mode. Its default file is now the shipped
    aiokafka one: one producer, share mode, for every caller at once."""
    pool = await container.async_pool()
    settings = container.settings()
    assert settings.kafka.client == "aiokafka"
    assert (settings.pool.max_size, settings.pool.on_exhausted) == (1, "share")
    leases = [pool.acquire() for _ in range(8)]
    held = [await lease.__aenter__() for lease in leases]
    assert held == [0] * 8  # eight callers at once, none waits, one producer
    for lease in leases:
        await lease.__aexit__(None, None, None)
    assert pool.stats().created == 1


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


def test_the_fastapi_example_shares_one_producer_and_fails_fast():
    """Defect 8, the example: it published through the YAML's 4 producers in block mode."""
    pytest.importorskip("fastapi")
    from examples.fastapi_app import create_app

    container = create_app().state.container
    pool = container.settings().pool
    assert (pool.max_size, pool.on_exhausted) == (1, "share")
    assert container.fail_fast() is True
