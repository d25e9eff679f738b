"""A shut-down container refuses to build a pool again. dependency-injector's Resource would
build a new one, unclosed, on the next call: an exit hook that touched the container after
`shutdown_resources()` (an atexit, a worker's exit signal) leaked its producers."""

from __future__ import annotations

import pytest
from dependency_injector import providers

from producer_pool import PoolClosed
from producer_pool.wiring.containers import AsyncContainer, create_container
from tests.fakes import ResourceFactory

REFUSED = r"shut down \(shutdown_resources\(\)\); build a new one \(create_container\(\)\)"


def test_a_shut_down_container_refuses_to_build_a_pool_again():
    container = create_container()
    resources = ResourceFactory()
    container.producer_factory.override(providers.Object(resources))
    pool = container.pool()
    with pool.acquire():
        pass
    container.shutdown_resources()

    with pytest.raises(PoolClosed, match=r"^container\.pool\(\): this container was " + REFUSED):
        container.pool()
    with pytest.raises(PoolClosed, match=REFUSED):
        container.publisher()
    with pytest.raises(PoolClosed, match=REFUSED):
        container.init_resources()
    container.shutdown_resources()  # a second shutdown stays a no-op
    assert pool.closed and len(resources.made) == 1  # nothing built after the shutdown


def test_a_container_never_shut_down_builds_its_pool_once():
    container = create_container()
    container.producer_factory.override(providers.Object(ResourceFactory()))
    try:
        assert container.pool() is container.pool()
    finally:
        container.shutdown_resources()


async def test_a_shut_down_async_container_refuses_to_build_a_pool_again():
    container = create_container(container_class=AsyncContainer)
    made: list[int] = []

    async def factory() -> int:
        made.append(len(made))
        return made[-1]

    container.async_producer_factory.override(providers.Object(factory))
    await container.init_resources()
    pool = await container.async_pool()
    async with pool.acquire():
        pass
    await container.shutdown_resources()

    with pytest.raises(PoolClosed, match=r"^container\.async_pool\(\): this container was "):
        await container.async_pool()
    with pytest.raises(PoolClosed, match=REFUSED):
        await container.async_publisher()
    with pytest.raises(PoolClosed, match=REFUSED):
        await container.init_resources()
    await container.shutdown_resources()
    assert pool.closed and made == [0]
