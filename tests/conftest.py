"""Shared fixtures: every test gets fresh pools and closes them, so nothing leaks between tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from producer_pool import ProducerPool


@pytest.fixture
def make_pool() -> Iterator[Callable[..., ProducerPool[Any]]]:
    """Build pools that are closed at the end of the test, whatever happens."""
    pools: list[ProducerPool[Any]] = []

    def make(factory: Callable[[], Any], **options: Any) -> ProducerPool[Any]:
        pool = ProducerPool(factory, **options)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close(timeout=0)
