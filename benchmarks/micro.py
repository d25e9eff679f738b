"""Acquire + release cost: our pool against the floor and the peers on PyPI.

Every pool leases the same tiny object; exclusivity is verified before timing, and a pool
that double-leases is marked, not ranked.
"""

from __future__ import annotations

import contextlib
import queue
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks.threads import run_concurrently
from producer_pool import ProducerPool


class Obj:
    """The pooled object: a flag to catch double leases, and the DB-API methods SQLAlchemy calls."""

    __slots__ = ("in_use",)

    def __init__(self) -> None:
        self.in_use = False

    def close(self) -> None:
        pass

    def rollback(self) -> None:
        pass


class Floor:
    """The floor: prebuilt objects in a `queue.SimpleQueue` and a class-based context manager."""

    def __init__(self, size: int) -> None:
        self._queue: queue.SimpleQueue[Obj] = queue.SimpleQueue()
        for _ in range(size):
            self._queue.put(Obj())

    def acquire(self) -> _FloorLease:
        return _FloorLease(self._queue)

    def close(self) -> None:
        pass


class _FloorLease:
    __slots__ = ("_obj", "_queue")

    def __init__(self, q: queue.SimpleQueue[Obj]) -> None:
        self._queue = q

    def __enter__(self) -> Obj:
        self._obj = self._queue.get()
        return self._obj

    def __exit__(self, *exc: object) -> None:
        self._queue.put(self._obj)


def _always_healthy(obj: Obj) -> bool:
    return True


class Ours:
    """Bare: no check and no lifetimes. `configured` is the shipped YAML's set: a check,
    max_lifetime=3600 and max_idle=600, as every pool from `kafka_pool()` or the container."""

    def __init__(self, size: int, on_exhausted: str = "block", configured: bool = False) -> None:
        options: dict[str, Any] = (
            {"check": _always_healthy, "max_lifetime": 3600.0, "max_idle": 600.0}
            if configured
            else {"max_lifetime": None, "max_idle": None}
        )
        self.pool = ProducerPool(Obj, max_size=size, on_exhausted=on_exhausted, **options)  # type: ignore[arg-type]
        self.acquire = self.pool.acquire

    def close(self) -> None:
        self.pool.close()


class SQLAlchemyQueuePool:
    def __init__(self, size: int) -> None:
        from sqlalchemy.pool import QueuePool

        self.pool = QueuePool(Obj, pool_size=size, max_overflow=0, reset_on_return=None)

    @contextlib.contextmanager
    def acquire(self) -> Iterator[Any]:
        fairy = self.pool.connect()
        try:
            yield fairy.dbapi_connection
        finally:
            fairy.close()

    def close(self) -> None:
        self.pool.dispose()


class ConnPool:
    def __init__(self, size: int) -> None:
        import connpool

        config = connpool.PoolConfig(max_size=size, min_size=0)
        self.pool = connpool.ConnectionPool.from_callables(Obj, config=config)
        self.acquire = self.pool.connection

    def close(self) -> None:
        self.pool.close()


_KEPT_ALIVE: list[Obj] = []


def _immortal_obj() -> Obj:
    """connection-pool keys wrappers by id(conn) in a class-level dict: once an object dies
    its recycled id sends releases to another pool, whose waiters then hang forever."""
    obj = Obj()
    _KEPT_ALIVE.append(obj)
    return obj


class ConnectionPoolPkg:
    def __init__(self, size: int) -> None:
        import connection_pool

        self.pool = connection_pool.ConnectionPool(create=_immortal_obj, max_size=size, idle=3600)
        self.acquire = self.pool.item

    def close(self) -> None:
        pass


class GenericConnectionPool:
    def __init__(self, size: int) -> None:
        from generic_connection_pool.threading import BaseConnectionManager, ConnectionPool

        class Manager(BaseConnectionManager[str, Obj]):
            def create(self, endpoint: str, timeout: float | None = None) -> Obj:
                return Obj()

            def dispose(self, endpoint: str, conn: Obj, timeout: float | None = None) -> None:
                pass

        self.pool = ConnectionPool(
            Manager(), max_size=size, total_max_size=size, min_idle=0, idle_timeout=3600
        )

    def acquire(self) -> Any:
        return self.pool.connection("endpoint")

    def close(self) -> None:
        self.pool.close()


POOLS: dict[str, Callable[[int], Any]] = {
    "floor (SimpleQueue)": Floor,
    "producer-pool block": Ours,
    "producer-pool configured": lambda size: Ours(size, configured=True),
    "producer-pool share": lambda size: Ours(size, "share"),
    "SQLAlchemy QueuePool": SQLAlchemyQueuePool,
    "connpool": ConnPool,
    "connection-pool": ConnectionPoolPkg,
    "generic-connection-pool": GenericConnectionPool,
}
SHARES_BY_DESIGN = {"producer-pool share"}


def _run_threads(pool: Any, threads: int, ops: int, body: Callable[[Obj], None]) -> float:
    """ops/s of `threads` threads each doing `ops` leases with `body` inside."""

    def worker(number: int) -> None:
        for _ in range(ops):
            with pool.acquire() as obj:
                body(obj)

    return threads * ops / run_concurrently(worker, threads)


def double_leases(pool: Any, threads: int = 8, ops: int = 1_000) -> int:
    """Leases that found their object already in use, with the GIL yielded while holding."""
    violations = 0
    lock = threading.Lock()

    def body(obj: Obj) -> None:
        nonlocal violations
        if obj.in_use:
            with lock:
                violations += 1
        obj.in_use = True
        time.sleep(0)
        obj.in_use = False

    _run_threads(pool, threads, ops, body)
    return violations


def _empty(obj: Obj) -> None:
    pass


def _hold_20us(obj: Obj) -> None:
    """About the Python cost of a kafka-python `send`: the realistic hold."""
    deadline = time.perf_counter() + 20e-6
    while time.perf_counter() < deadline:
        pass


def uncontended_ns(pool: Any, ops: int) -> float:
    acquire = pool.acquire
    began = time.perf_counter()
    for _ in range(ops):
        with acquire():
            pass
    return (time.perf_counter() - began) / ops * 1e9


def run(*, ops: int, repeats: int, progress: Callable[[], None]) -> dict[str, Any]:
    """Median of `repeats` for each pool: uncontended ns/op and contended ops/s."""
    results: dict[str, Any] = {}
    for name, make in POOLS.items():
        try:
            pool = make(4)
        except ImportError:  # a peer that does not support this Python (connpool needs 3.11)
            progress()
            continue
        try:
            row: dict[str, Any] = {
                "double_leases": 0 if name in SHARES_BY_DESIGN else double_leases(pool),
                "uncontended_ns": statistics.median(
                    uncontended_ns(pool, ops) for _ in range(repeats)
                ),
            }
            for label, threads, body, per_thread in (
                ("8_threads_ops_s", 8, _empty, ops // 8),
                ("32_threads_ops_s", 32, _empty, ops // 32),
                ("8_threads_hold_20us_ops_s", 8, _hold_20us, max(10, ops // 400)),
            ):
                row[label] = statistics.median(
                    _run_threads(pool, threads, per_thread, body) for _ in range(repeats)
                )
            if isinstance(getattr(pool, "pool", None), ProducerPool):
                # Fairness beside throughput: no waiter starves while others are served.
                stats = pool.pool.stats()
                row["mean_wait_us"] = stats.total_wait_seconds / max(1, stats.acquired) * 1e6
                row["max_wait_ms"] = stats.max_wait_seconds * 1e3
            results[name] = row
        finally:
            pool.close()
        progress()
    return results
