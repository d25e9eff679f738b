"""Static typing: `mypy --strict` infers the leased object's type from the factory."""

from __future__ import annotations

from typing_extensions import assert_type

from producer_pool import AsyncLease, AsyncProducerPool, Lease, PoolStats, ProducerPool


def test_the_leased_object_has_the_factorys_return_type() -> None:
    def make_name() -> str:
        return "producer"

    with ProducerPool(int) as numbers, ProducerPool(make_name) as names:
        assert_type(numbers, ProducerPool[int])
        assert_type(numbers.acquire(), Lease[int])
        with numbers.acquire() as number, names.acquire() as name:
            assert_type(number, int)
            assert_type(name, str)
            assert (number, name) == (0, "producer")
        assert_type(numbers.stats(), PoolStats)


async def test_an_async_factory_leases_what_its_coroutine_returns() -> None:
    async def make_name() -> str:
        return "producer"

    async with AsyncProducerPool(make_name) as names, AsyncProducerPool(int) as numbers:
        assert_type(names, AsyncProducerPool[str])
        assert_type(names.acquire(), AsyncLease[str])
        async with names.acquire() as name, numbers.acquire() as number:
            assert_type(name, str)
            assert_type(number, int)
            assert (name, number) == ("producer", 0)
