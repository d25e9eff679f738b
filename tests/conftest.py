"""Shared fixtures: every test gets fresh pools and closes them, so nothing leaks between tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from producer_pool import ProducerPool, _clock
from tests.fakes import FakeClock


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
        pool.close(timeout=5)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The pool's clock, moved by hand."""
    fake = FakeClock()
    monkeypatch.setattr(_clock, "monotonic", fake)
    return fake
