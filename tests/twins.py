"""One asyncio interface over both pools, so a contract test runs against the threaded
`ProducerPool` and its twin `AsyncProducerPool` alike (as psycopg_pool's tests run against
each pool class). The threaded pool's blocking calls run on a thread pool of their own."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from producer_pool import AsyncProducerPool, PoolStats, ProducerPool
from tests.fakes import wait_until

KINDS = ("threads", "asyncio")


class ThreadedTwin:
    """`ProducerPool` behind the asyncio interface."""

    def __init__(self, factory: Callable[[], Any], **options: Any) -> None:
        self.pool: ProducerPool[Any] = ProducerPool(factory, **options)
        self._threads = ThreadPoolExecutor(max_workers=32, thread_name_prefix="twin")

    async def _run(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, call, *args)

    @contextlib.asynccontextmanager
    async def acquire(self, timeout: float | None = None) -> AsyncIterator[Any]:
        lease = self.pool.acquire(timeout)
        obj = await self._run(_enter, lease)
        try:
            yield obj
        except BaseException as exc:
            lease.__exit__(type(exc), exc, exc.__traceback__)
            raise
        lease.__exit__(None, None, None)

    async def wait(self, timeout: float = 30.0) -> None:
        await self._run(self.pool.wait, timeout)

    async def close(self, timeout: float | None = None) -> None:
        await self._run(self.pool.close, timeout)

    async def dispose(self) -> None:
        """Close (if the test did not) and stop the threads; for the fixture's teardown."""
        try:
            await self.close(timeout=5)
        finally:
            self._threads.shutdown(wait=False)

    def stats(self) -> PoolStats:
        return self.pool.stats()


def _enter(lease: Any) -> Any:
    return lease.__enter__()  # the line a leak report's stack ends at


class AsyncTwin:
    """`AsyncProducerPool`, given `async def` versions of the factory, check and destroy, so
    the contract also covers awaiting them (a factory's own `make_async`, if it has one)."""

    def __init__(self, factory: Callable[[], Any], **options: Any) -> None:
        for name in ("check", "destroy"):
            if options.get(name) is not None:
                options[name] = _as_coroutine(options[name])
        make = getattr(factory, "make_async", None) or _as_coroutine(factory)
        self.pool: AsyncProducerPool[Any] = AsyncProducerPool(make, **options)

    def acquire(self, timeout: float | None = None) -> Any:
        return self.pool.acquire(timeout)

    async def wait(self, timeout: float = 30.0) -> None:
        await self.pool.wait(timeout)

    async def close(self, timeout: float | None = None) -> None:
        await self.pool.close(timeout)

    async def dispose(self) -> None:
        await self.close(timeout=5)

    def stats(self) -> PoolStats:
        return self.pool.stats()


def _as_coroutine(call: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        return call(*args, **kwargs)

    if "deadline" in inspect.signature(call).parameters:
        return wrapped
    return lambda *args: wrapped(*args)  # a destroy without `deadline=` stays without it


def twin_for(kind: str, factory: Callable[[], Any], **options: Any) -> ThreadedTwin | AsyncTwin:
    return ThreadedTwin(factory, **options) if kind == "threads" else AsyncTwin(factory, **options)


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for an outcome a thread or task produces; fail loudly if it never comes. The
    sync `wait_until` does the waiting on a worker thread, so the event loop meanwhile runs
    the tasks that produce the outcome (the predicates only read counters and lists)."""
    await asyncio.to_thread(wait_until, predicate, timeout)
