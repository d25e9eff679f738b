"""Shared fixtures: every test gets fresh pools and closes them, so nothing leaks between tests."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import uvloop

from producer_pool import ProducerPool
from producer_pool.core import clock as _clock
from tests.fakes import FakeClock
from tests.twins import KINDS, twin_for

#: What gives the same outcome on every Python, marked `once` (CI runs it on its first
#: Python only, .ci/run): the site (one artifact, built with the dev Python; its checks read
#: the source), the release (a py3-none-any wheel, the same file whoever builds it; the code
#: it installs is tested on every Python by the suites), the benchmarks' smoke run (`make
#: bench` runs on the dev venv only; what it drives is tested on every Python).
ONCE = (
    Path(__file__).parent / "docs",
    Path(__file__).parent / "release",
    Path(__file__).parent / "integration" / "test_benchmarks_smoke.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything under tests/integration at collection, so `-m "not integration"`
    runs the unit suite alone, and the tests in `ONCE` as `once`."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)
        if any(item.path.is_relative_to(path) for path in ONCE):
            item.add_marker(pytest.mark.once)


if (3, 11) <= sys.version_info < (3, 11, 8):

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport() -> Iterator[Any]:
        """No garbage collection while pytest writes a report. Python 3.11 before 3.11.8
        keeps the AST constructor's recursion depth in state shared by every parse
        (CPython gh-106905): a collection during pytest's parse of a failing test's source
        that runs a finalizer which formats a traceback (asyncio's "Task exception was never
        retrieved": 3.11 parses each line for its carets) parses inside the parse, and the
        run ends in INTERNALERROR SystemError: AST constructor recursion depth mismatch."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            return (yield)
        finally:
            if collecting:
                gc.enable()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every asyncio test runs twice: on asyncio's own loop and on uvloop, the loop
    uvicorn runs when it is installed with its standard extras."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


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


@pytest.fixture(params=KINDS)
async def make_twin(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Any]]:
    """Build the pool under test, threaded or asyncio (each contract test runs for both);
    closed at the end of the test, whatever happens."""
    twins: list[Any] = []

    def make(factory: Callable[[], Any], **options: Any) -> Any:
        twins.append(twin_for(request.param, factory, **options))
        return twins[-1]

    yield make
    for twin in twins:
        with contextlib.suppress(Exception):
            await twin.dispose()


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """Register what a test opens (pools, producers, consumers); it is closed at the end of
    the test even when the test fails, so one failure never leaks into the next test."""
    opened: list[Any] = []

    def register(thing: Any) -> Any:
        opened.append(thing)
        return thing

    yield register
    for thing in reversed(opened):
        with contextlib.suppress(Exception):
            if isinstance(thing, ProducerPool):
                thing.close(timeout=10)
            else:
                thing.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The pool's clock, moved by hand."""
    fake = FakeClock()
    monkeypatch.setattr(_clock, "monotonic", fake)
    return fake
