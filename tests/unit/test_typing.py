"""Static typing: `mypy --strict` infers the leased object's type from the factory and
refuses an option the pools do not take."""

from __future__ import annotations

import dataclasses

import pytest
from typing_extensions import Unpack, assert_type

from producer_pool import AsyncLease, AsyncProducerPool, ConfigError, Lease, PoolStats, ProducerPool
from producer_pool.core import PoolKwargs
from producer_pool.core.options import PoolOptions


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


def test_a_misspelt_option_is_a_type_error_and_a_config_error() -> None:
    """mypy --strict flags the misspelling (`warn_unused_ignores` fails this file if the
    ignores stop being needed); at run time it is one line naming the option."""
    with pytest.raises(
        ConfigError, match=r"^max_sise: unknown pool option; did you mean max_size\?$"
    ):
        ProducerPool(int, max_sise=3)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="max_sise: unknown pool option"):
        AsyncProducerPool(int, max_sise=3)  # type: ignore[call-overload]


def test_pool_kwargs_name_every_option_the_pools_take() -> None:
    """One list for the signatures (`PoolKwargs`), one for defaults and rules (`PoolOptions`),
    in the same order."""

    def kit_pool(**pool_options: Unpack[PoolKwargs]) -> ProducerPool[int]:
        return ProducerPool(int, **pool_options)

    with kit_pool(max_size=2, on_exhausted="share") as pool:
        assert pool.stats().max_size == 2
    assert list(PoolKwargs.__annotations__) == [f.name for f in dataclasses.fields(PoolOptions)]
