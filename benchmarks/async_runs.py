"""The asyncio pool: acquire + release against an `asyncio.Queue` floor, publishing against
one shared `AIOKafkaProducer`, and transactions through confluent's AIOProducer under latency.

Each measurement runs in its own event loop; Kafka runs read every message back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from benchmarks.kafka_runs import (
    READ_BACK_TIMEOUT,
    VALUE,
    fresh_topic,
    keep_best_round,
    relayed_broker,
)
from benchmarks.micro import Obj
from producer_pool import AsyncProducerPool, PoolCloseError
from producer_pool.clients.aiokafka import aiokafka_pool
from producer_pool.clients.confluent import confluent_async_pool, transaction
from producer_pool.testing.topics import read_topic

POOL_SIZE = 4
SHARED_AIOKAFKA = "one shared AIOKafkaProducer"
NO_POOL = "async with alone: one producer, no pool"
QUEUE_FLOOR = "floor: one producer in an asyncio.Queue"
TASKS = 64
PUBLISHERS = 8


class QueueFloor:
    """The floor: prebuilt objects in an `asyncio.Queue` behind a class-based async context
    manager, the least an async pool can do."""

    def __init__(self, objects: list[Any]) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        for obj in objects:
            self._queue.put_nowait(obj)

    def acquire(self) -> _QueueLease:
        return _QueueLease(self._queue)


class _QueueLease:
    __slots__ = ("_obj", "_queue")

    def __init__(self, queue: asyncio.Queue[Any]) -> None:
        self._queue = queue

    async def __aenter__(self) -> Any:
        self._obj = await self._queue.get()
        return self._obj

    async def __aexit__(self, *exc: object) -> None:
        self._queue.put_nowait(self._obj)


class NoPool:
    """No pool at all: the one producer behind a class-based async context manager that
    does nothing, so a lease per message measures the `async with` protocol alone."""

    def __init__(self, obj: Any) -> None:
        self._lease = _NoLease(obj)

    def acquire(self) -> _NoLease:
        return self._lease


class _NoLease:
    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    async def __aenter__(self) -> Any:
        return self._obj

    async def __aexit__(self, *exc: object) -> None:
        pass


async def _uncontended_ns(pool: Any, ops: int) -> float:
    began = time.perf_counter()
    for _ in range(ops):
        async with pool.acquire():
            pass
    return (time.perf_counter() - began) / ops * 1e9


async def _contended_ops_s(pool: Any, ops: int) -> tuple[float, int]:
    """`TASKS` tasks over `POOL_SIZE` objects, each yielding to the loop while it holds one;
    returns ops/s and how many leases found their object already in use."""
    double_leases = 0

    async def worker() -> None:
        nonlocal double_leases
        for _ in range(ops // TASKS):
            async with pool.acquire() as obj:
                double_leases += obj.in_use
                obj.in_use = True
                await asyncio.sleep(0)
                obj.in_use = False

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(TASKS)))
    return (ops // TASKS * TASKS) / (time.perf_counter() - began), double_leases


def micro(ops: int, repeats: int) -> dict[str, Any]:
    """ns per acquire+release alone and ops/s under contention: the floor and ours."""

    async def measure(make: Callable[[], Any]) -> dict[str, Any]:
        pool = make()
        uncontended = min([await _uncontended_ns(pool, ops) for _ in range(repeats)])
        runs = [await _contended_ops_s(pool, ops) for _ in range(repeats)]
        if isinstance(pool, AsyncProducerPool):
            await pool.close()
        return {
            "uncontended_ns": uncontended,
            f"{TASKS}_tasks_ops_s": max(r[0] for r in runs),
            "double_leases": sum(r[1] for r in runs),
        }

    def ours() -> AsyncProducerPool[Obj]:
        return AsyncProducerPool(Obj, max_size=POOL_SIZE, max_lifetime=None, max_idle=None)

    return {
        "floor (asyncio.Queue)": asyncio.run(
            measure(lambda: QueueFloor([Obj() for _ in range(POOL_SIZE)]))
        ),
        "AsyncProducerPool": asyncio.run(measure(ours)),
    }


Send = Callable[[bytes], Awaitable["asyncio.Future[Any]"]]
Run = Callable[[str], Awaitable[tuple[float, int]]]


async def _publish(send: Send, per_task: int) -> tuple[float, int]:
    """`PUBLISHERS` tasks send `per_task` messages each through `send`; every acknowledgement
    is awaited. Returns msg/s and the number acknowledged."""

    async def task(number: int) -> list[asyncio.Future[Any]]:
        return [await send(f"{number}-{n}".encode()) for n in range(per_task)]

    began = time.perf_counter()
    batches = await asyncio.gather(*(task(t) for t in range(PUBLISHERS)))
    results = await asyncio.gather(*(f for batch in batches for f in batch))
    return PUBLISHERS * per_task / (time.perf_counter() - began), len(results)


def _direct(producer: AIOKafkaProducer, topic: str) -> Send:
    """A send on one shared producer, as a service writes it."""

    async def send(key: bytes) -> asyncio.Future[Any]:
        return await producer.send(topic, key=key, value=VALUE)

    return send


def _leased(pool: Any, topic: str) -> Send:
    """The same send, in a lease per message: what the pool adds is the `async with`."""

    async def send(key: bytes) -> asyncio.Future[Any]:
        async with pool.acquire() as producer:
            return await producer.send(topic, key=key, value=VALUE)

    return send


def publishing(servers: str, per_task: int, rounds: int) -> dict[str, Any]:
    """msg/s of a lease per message through async pools of aiokafka producers, against one
    shared producer sent to directly, the same behind an `async with` that does nothing (the
    protocol's own cost), and the floor (one producer in an `asyncio.Queue`). The
    contenders take turns for `rounds` rounds (`keep_best_round`)."""

    def one_producer(lender: Callable[[AIOKafkaProducer], Any] | None) -> Run:
        """One producer, sent to directly (no `lender`) or leased from `lender(producer)`."""

        async def run(topic: str) -> tuple[float, int]:
            producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5)
            await producer.start()
            try:
                if lender is None:
                    return await _publish(_direct(producer, topic), per_task)
                return await _publish(_leased(lender(producer), topic), per_task)
            finally:
                await producer.stop()

        return run

    def pooled(size: int, mode: str) -> Run:
        async def run(topic: str) -> tuple[float, int]:
            settings = {"bootstrap_servers": servers, "linger_ms": 5}
            async with aiokafka_pool(
                settings, max_size=size, min_size=size, on_exhausted=mode
            ) as pool:
                await pool.wait()
                return await _publish(_leased(pool, topic), per_task)

        return run

    runs: dict[str, Run] = {
        SHARED_AIOKAFKA: one_producer(None),
        NO_POOL: one_producer(NoPool),
        QUEUE_FLOOR: one_producer(lambda producer: QueueFloor([producer])),
        "async pool, share mode, max 1": pooled(1, "share"),
        f"async pool of {POOL_SIZE}": pooled(POOL_SIZE, "block"),
    }
    results: dict[str, Any] = {}
    for _ in range(rounds):
        for name, run in runs.items():
            topic = fresh_topic(servers)
            msg_s, acknowledged = asyncio.run(run(topic))
            read_back = len(read_topic(servers, topic, timeout=READ_BACK_TIMEOUT))
            keep_best_round(
                results,
                name,
                {
                    "msg_s": msg_s,
                    "sent": PUBLISHERS * per_task,
                    "acknowledged": acknowledged,
                    "read_back": read_back,
                },
            )
    return results


def transactions(rtt: float, per_task: int, sizes: tuple[int, ...]) -> dict[str, Any]:
    """tx/s of 10-message transactions from `PUBLISHERS` tasks through async pools of
    transactional AIOProducers, behind a relay adding `rtt`."""
    results: dict[str, Any] = {"rtt_ms": rtt * 1000}

    async def run(servers: str, topic: str, size: int) -> float:
        pool = confluent_async_pool(
            {"bootstrap_servers": servers}, transactional=True, max_size=size, min_size=size
        )
        try:
            await pool.wait()

            async def task(number: int) -> None:
                for n in range(per_task):
                    async with transaction(pool) as producer:
                        for i in range(10):
                            await producer.produce(
                                topic, key=f"{number}-{n}-{i}".encode(), value=VALUE
                            )

            began = time.perf_counter()
            await asyncio.gather(*(task(t) for t in range(PUBLISHERS)))
            return PUBLISHERS * per_task / (time.perf_counter() - began)
        finally:
            with contextlib.suppress(PoolCloseError):  # counted by the read-back below
                await pool.close()

    with relayed_broker(rtt / 2) as servers:
        for size in sizes:
            topic = fresh_topic(servers)
            tx_s = asyncio.run(run(servers, topic, size))
            results[f"async pool of {size}"] = {
                "tx_s": tx_s,
                "sent": PUBLISHERS * per_task * 10,
                "read_back": len(
                    read_topic(
                        servers, topic, isolation_level="read_committed", timeout=READ_BACK_TIMEOUT
                    )
                ),
            }
    return results
