"""Acquire + release cost, on pyperf: our pools against the floors and the peers on PyPI.

A pyperf script: `python -m benchmarks.micro -o out.json` runs every benchmark in worker
processes of its own, calibrating the loops; `--select` runs a subset, `--round` labels the
runs (`benchmarks.rounds` runs it once per round). It imports only the public names
`ProducerPool` and `AsyncProducerPool`, so `benchmarks.compare` can run it on older commits.

Each benchmark is one MEASURE (a pyperf time function) of one pool; a value is seconds per
acquire + release, its inverse the throughput. Adding a benchmark is adding a measure.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from benchmarks.threads import run_concurrently
from producer_pool import AsyncProducerPool, ProducerPool

POOL_SIZE = 4


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


#: A pool with no check and no lifetimes.
BARE_OPTIONS: dict[str, Any] = {"max_lifetime": None, "max_idle": None}
#: The shipped YAML's set, as every pool from `kafka_pool()` or the container has.
CONFIGURED_OPTIONS: dict[str, Any] = {
    "check": _always_healthy,
    "max_lifetime": 3600.0,
    "max_idle": 600.0,
}


class Ours:
    """Bare: no check and no lifetimes. `configured` is the shipped YAML's set: a check,
    max_lifetime=3600 and max_idle=600, as every pool from `kafka_pool()` or the container.
    `strict` serves waiters strictly first come, first served (`fifo_after=0`), the order
    before the bounded barging."""

    def __init__(
        self,
        size: int,
        on_exhausted: str = "block",
        configured: bool = False,
        strict: bool = False,
    ) -> None:
        options = dict(CONFIGURED_OPTIONS if configured else BARE_OPTIONS)
        if strict:
            options["fifo_after"] = 0.0
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


FLOOR = "floor (SimpleQueue)"
OURS = "producer-pool block"
CONFIGURED = "producer-pool configured"
SHARE = "producer-pool share"
STRICT = "producer-pool strict FIFO"
POOLS: dict[str, Callable[[int], Any]] = {
    FLOOR: Floor,
    OURS: Ours,
    CONFIGURED: lambda size: Ours(size, configured=True),
    SHARE: lambda size: Ours(size, "share"),
    STRICT: lambda size: Ours(size, strict=True),
    "SQLAlchemy QueuePool": SQLAlchemyQueuePool,
    "connpool": ConnPool,
    "connection-pool": ConnectionPoolPkg,
    "generic-connection-pool": GenericConnectionPool,
}
SHARES_BY_DESIGN = {SHARE}
PEERS = ("SQLAlchemy QueuePool", "connpool", "connection-pool", "generic-connection-pool")


class QueueFloor:
    """The asyncio floor: prebuilt objects in an `asyncio.Queue` behind a class-based async
    context manager, the least an async pool can do."""

    def __init__(self, objects: list[Any]) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        for obj in objects:
            self._queue.put_nowait(obj)

    def acquire(self) -> _QueueLease:
        return _QueueLease(self._queue)

    async def close(self) -> None:
        pass


class _QueueLease:
    __slots__ = ("_obj", "_queue")

    def __init__(self, queue: asyncio.Queue[Any]) -> None:
        self._queue = queue

    async def __aenter__(self) -> Any:
        self._obj = await self._queue.get()
        return self._obj

    async def __aexit__(self, *exc: object) -> None:
        self._queue.put_nowait(self._obj)


async def _async_ours(**options: Any) -> AsyncProducerPool[Obj]:
    pool = AsyncProducerPool(
        Obj, max_size=POOL_SIZE, min_size=POOL_SIZE, max_lifetime=None, max_idle=None, **options
    )
    await pool.wait()
    return pool


async def _async_floor() -> QueueFloor:
    return QueueFloor([Obj() for _ in range(POOL_SIZE)])


class AsyncioConnectionPool:
    """asyncio-connection-pool: lock-free on one loop, an `asyncio.Queue` of idle objects
    (so a releasing task may take its object straight back)."""

    def __init__(self) -> None:
        from asyncio_connection_pool import ConnectionPool, ConnectionStrategy

        class Strategy(ConnectionStrategy[Obj]):
            async def make_connection(self) -> Obj:
                return Obj()

            def connection_is_closed(self, conn: Obj) -> bool:
                return False

            async def close_connection(self, conn: Obj) -> None:
                pass

        self.pool = ConnectionPool(strategy=Strategy(), max_size=POOL_SIZE)
        self.acquire = self.pool.get_connection

    async def close(self) -> None:
        pass


async def _asyncio_connection_pool() -> AsyncioConnectionPool:
    return AsyncioConnectionPool()


ASYNC_FLOOR = "floor (asyncio.Queue)"
ASYNC_OURS = "AsyncProducerPool"
ASYNC_STRICT = "AsyncProducerPool strict FIFO"
ASYNC_PEER = "asyncio-connection-pool"
#: Made inside each value's event loop: an asyncio pool belongs to one loop.
ASYNC_POOLS: dict[str, Callable[[], Awaitable[Any]]] = {
    ASYNC_FLOOR: _async_floor,
    ASYNC_OURS: _async_ours,
    ASYNC_STRICT: lambda: _async_ours(fifo_after=0.0),
    ASYNC_PEER: _asyncio_connection_pool,
}
TASKS = 64


# The measures: pyperf time functions, `(pool, loops) -> seconds` for `loops` x inner_loops
# leases. A sync pool is made once per worker process (closed at its exit), so its objects
# exist after the warm-up value; an asyncio pool once per value, in that value's loop.


def _empty(obj: Obj) -> None:
    pass


def _hold_20us(obj: Obj) -> None:
    """About the Python cost of a kafka-python `send`: the realistic hold."""
    deadline = time.perf_counter() + 20e-6
    while time.perf_counter() < deadline:
        pass


def uncontended(pool: Any, loops: int) -> float:
    acquire = pool.acquire
    began = time.perf_counter()
    for _ in range(loops):
        with acquire():
            pass
    return time.perf_counter() - began


def contended(threads: int, body: Callable[[Obj], None]) -> Callable[[Any, int], float]:
    """`threads` threads released together, each doing `loops` leases with `body` inside."""

    def measure(pool: Any, loops: int) -> float:
        acquire = pool.acquire

        def worker(number: int) -> None:
            for _ in range(loops):
                with acquire() as obj:
                    body(obj)

        return run_concurrently(worker, threads)

    return measure


async def async_uncontended(pool: Any, loops: int) -> float:
    acquire = pool.acquire
    began = time.perf_counter()
    for _ in range(loops):
        async with acquire():
            pass
    return time.perf_counter() - began


async def async_contended(pool: Any, loops: int) -> float:
    """`TASKS` tasks over `POOL_SIZE` objects, each yielding to the loop while holding one."""

    async def worker() -> None:
        for _ in range(loops):
            async with pool.acquire():
                await asyncio.sleep(0)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(TASKS)))
    return time.perf_counter() - began


@dataclass(frozen=True)
class Measure:
    """One way to time a pool: `time(pool, loops)` does `loops * inner_loops` leases."""

    time: Callable[[Any, int], Any]
    inner_loops: int = 1
    is_async: bool = False


UNCONTENDED = "uncontended"
THREADS_8 = "8 threads"
THREADS_32 = "32 threads"
HOLD_20US = "8 threads, 20 us hold"
ASYNC_UNCONTENDED = "asyncio uncontended"
ASYNC_TASKS = f"asyncio {TASKS} tasks"
MEASURES: dict[str, Measure] = {
    UNCONTENDED: Measure(uncontended),
    THREADS_8: Measure(contended(8, _empty), inner_loops=8),
    THREADS_32: Measure(contended(32, _empty), inner_loops=32),
    HOLD_20US: Measure(contended(8, _hold_20us), inner_loops=8),
    ASYNC_UNCONTENDED: Measure(async_uncontended, is_async=True),
    ASYNC_TASKS: Measure(async_contended, inner_loops=TASKS, is_async=True),
}
SYNC_MEASURES = [name for name, m in MEASURES.items() if not m.is_async]
ASYNC_MEASURES = [name for name, m in MEASURES.items() if m.is_async]


def name(measure: str, pool: str) -> str:
    """The pyperf benchmark name of `measure` on `pool`."""
    return f"{measure}: {pool}"


#: The subsets `--select` takes: every benchmark; the core ratios (`make bench-quick`); our
#: pools alone, which also run on older commits (`benchmarks.compare`: no option newer
#: than them); and the uncontended lease of our threaded pool, bare and configured (the
#: histograms' overhead).
CORE = (UNCONTENDED, THREADS_8, HOLD_20US)
SELECTIONS: dict[str, list[tuple[str, str]]] = {
    "all": [(m, p) for m in SYNC_MEASURES for p in POOLS]
    + [(m, p) for m in ASYNC_MEASURES for p in ASYNC_POOLS],
    "quick": [(m, p) for m in CORE for p in (FLOOR, OURS, CONFIGURED, "connection-pool")]
    + [(m, p) for m in ASYNC_MEASURES for p in ASYNC_POOLS],
    "ours": [(m, p) for m in SYNC_MEASURES for p in (OURS, CONFIGURED, SHARE)]
    + [(m, ASYNC_OURS) for m in ASYNC_MEASURES],
    "uncontended": [(UNCONTENDED, OURS), (UNCONTENDED, CONFIGURED)],
}

_made: dict[str, Any] = {}


def _sync_pool(pool: str) -> Any:
    if pool not in _made:
        _made[pool] = made = POOLS[pool](POOL_SIZE)
        atexit.register(made.close)
    return _made[pool]


def time_function(measure: str, pool: str) -> Callable[[int], float]:
    """The pyperf time function of `measure` on `pool`: `loops -> seconds`."""
    spec = MEASURES[measure]
    if not spec.is_async:
        return lambda loops: float(spec.time(_sync_pool(pool), loops))

    async def in_a_loop(loops: int) -> float:
        made = await ASYNC_POOLS[pool]()
        try:
            return float(await spec.time(made, loops))
        finally:
            await made.close()

    return lambda loops: asyncio.run(in_a_loop(loops))


#: The peers' modules: one not installed here (connpool needs Python 3.11) is left out.
PEER_MODULES = {
    "SQLAlchemy QueuePool": "sqlalchemy",
    "connpool": "connpool",
    "connection-pool": "connection_pool",
    "generic-connection-pool": "generic_connection_pool",
    ASYNC_PEER: "asyncio_connection_pool",
}


def available(pool: str) -> bool:
    module = PEER_MODULES.get(pool)
    return module is None or importlib.util.find_spec(module) is not None


def double_leases(pool: Any, threads: int = 8, ops: int = 1_000) -> int:
    """Leases that found their object already in use, with the GIL yielded while holding:
    a pool that double-leases is marked, not ranked."""
    violations = 0
    lock = threading.Lock()

    def worker(number: int) -> None:
        nonlocal violations
        for _ in range(ops):
            with pool.acquire() as obj:
                if obj.in_use:
                    with lock:
                        violations += 1
                obj.in_use = True
                time.sleep(0)
                obj.in_use = False

    run_concurrently(worker, threads)
    return violations


def _calibrated_loops(path: str | None) -> dict[str, int]:
    """The loops each benchmark was calibrated to in an earlier round's pyperf file."""
    if not path:
        return {}
    import pyperf

    return {bench.get_name(): bench.get_loops() for bench in pyperf.BenchmarkSuite.load(path)}


def main() -> None:
    import pyperf

    def forward(cmd: list[str], args: Any) -> None:
        cmd.extend(("--select", args.select, "--round", str(args.round)))

    runner = pyperf.Runner(add_cmdline_args=forward, program_args=("-m", "benchmarks.micro"))
    runner.argparser.add_argument("--select", choices=sorted(SELECTIONS), default="all")
    runner.argparser.add_argument("--round", type=int, default=0, help="labels the runs")
    runner.argparser.add_argument(
        "--loops-from", metavar="FILE", help="reuse the loops calibrated in this pyperf file"
    )
    args = runner.parse_args()
    runner.metadata["round"] = args.round
    loops = _calibrated_loops(None if args.worker else args.loops_from)
    for measure, pool in SELECTIONS[args.select]:
        if not available(pool):
            continue
        benchmark = name(measure, pool)
        if benchmark in loops:  # read by pyperf as it starts this benchmark's workers
            args.loops = loops[benchmark]
        runner.bench_time_func(
            benchmark, time_function(measure, pool), inner_loops=MEASURES[measure].inner_loops
        )


if __name__ == "__main__":
    main()
