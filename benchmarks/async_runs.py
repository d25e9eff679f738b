"""The asyncio pool against Kafka: publishing against one shared `AIOKafkaProducer`, and
transactions through confluent's AIOProducer under latency (its acquire + release cost is a
pyperf micro benchmark, in `benchmarks.micro`).

Each run has its own event loop and reads every message back; contenders take turns for
several rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from benchmarks.kafka_runs import COUNTS, READ_BACK_TIMEOUT, VALUE, fresh_topic, relayed_broker
from benchmarks.micro import QueueFloor
from benchmarks.rounds import alternate, fold
from producer_pool import PoolCloseError
from producer_pool.clients.aiokafka import aiokafka_pool
from producer_pool.clients.confluent import confluent_async_pool, transaction
from producer_pool.testing.topics import read_topic

POOL_SIZE = 4
SHARED_AIOKAFKA = "one shared AIOKafkaProducer"
NO_POOL = "async with alone: one producer, no pool"
QUEUE_FLOOR = "floor: one producer in an asyncio.Queue"
PUBLISHERS = 8


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


def publishing(
    servers: str, per_task: int, rounds: int, progress: Callable[[], None]
) -> dict[str, Any]:
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

    def contender(run: Run) -> Callable[[], dict[str, Any]]:
        def measure() -> dict[str, Any]:
            topic = fresh_topic(servers)
            msg_s, acknowledged = asyncio.run(run(topic))
            return {
                "msg_s": msg_s,
                "sent": PUBLISHERS * per_task,
                "acknowledged": acknowledged,
                "read_back": len(read_topic(servers, topic, timeout=READ_BACK_TIMEOUT)),
            }

        return measure

    results = alternate({name: contender(run) for name, run in runs.items()}, rounds, progress)
    return {name: fold(r, COUNTS) for name, r in results.items()}


def transactions(
    rtt: float, per_task: int, sizes: tuple[int, ...], rounds: int, progress: Callable[[], None]
) -> dict[str, Any]:
    """tx/s of 10-message transactions from `PUBLISHERS` tasks through async pools of
    transactional AIOProducers, behind a relay adding `rtt`; the sizes take turns for
    `rounds` rounds."""

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

    def contender(servers: str, size: int) -> Callable[[], dict[str, Any]]:
        def measure() -> dict[str, Any]:
            topic = fresh_topic(servers)
            tx_s = asyncio.run(run(servers, topic, size))
            committed = read_topic(
                servers, topic, isolation_level="read_committed", timeout=READ_BACK_TIMEOUT
            )
            return {"tx_s": tx_s, "sent": PUBLISHERS * per_task * 10, "read_back": len(committed)}

        return measure

    with relayed_broker(rtt / 2) as servers:
        runs = alternate(
            {f"async pool of {size}": contender(servers, size) for size in sizes},
            rounds,
            progress,
        )
    return {"rtt_ms": rtt * 1000} | {name: fold(r, COUNTS) for name, r in runs.items()}
