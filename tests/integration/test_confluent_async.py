"""confluent-kafka's AIOProducer in an `AsyncProducerPool`, against the embedded broker: read
back, counts, garbage (the faults every kit shares are in test_faults.py)."""

from __future__ import annotations

import asyncio
import gc
import os
import weakref
from collections import Counter

import pytest

from producer_pool import PoolCloseError
from producer_pool.clients import async_pool, confluent_aio
from producer_pool.clients.confluent import confluent_async_pool
from producer_pool.testing.topics import read_topic
from tests.fakes import in_forked_child, publish_from_tasks


async def read_keys(servers: str, topic: str, **options: str) -> list[bytes]:
    records = await asyncio.to_thread(read_topic, servers, topic, **options)
    return [r.key for r in records]


async def test_tasks_publish_through_aio_producers_and_every_message_is_read_back(
    kafka_bootstrap_servers, kafka_topic
):
    pool = confluent_async_pool({"bootstrap_servers": kafka_bootstrap_servers}, max_size=4)

    async def send(producer, key: bytes) -> asyncio.Future[object]:
        return await producer.produce(kafka_topic, key=key)

    async with pool:
        await publish_from_tasks(pool, send, tasks=20, per_task=50)
        assert pool.stats().delivered == 1000
    keys = await read_keys(kafka_bootstrap_servers, kafka_topic)
    assert sorted(keys) == sorted(f"{t}-{i}".encode() for t in range(20) for i in range(50))


async def test_a_delivery_the_caller_stopped_waiting_for_still_counts_as_delivered(
    kafka_bootstrap_servers, kafka_topic
):
    """A request cut short while awaiting its ack cancels the future it awaited; the message
    is still sent, so it must be counted delivered, not reported undelivered at close."""
    pool = confluent_async_pool({"bootstrap_servers": kafka_bootstrap_servers}, max_size=1)
    async with pool:
        async with pool.acquire() as producer:
            abandoned = await producer.produce(kafka_topic, key=b"abandoned", value=b"x")
            abandoned.cancel()
            await (await producer.produce(kafka_topic, key=b"awaited", value=b"x"))
            await producer.flush(10)
        assert (pool.stats().delivered, pool.stats().delivery_errors) == (2, 0)
    assert sorted(await read_keys(kafka_bootstrap_servers, kafka_topic)) == [
        b"abandoned", b"awaited"
    ]  # fmt: skip


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_closed_aio_producer_is_freed_at_once_and_a_forked_child_survives_a_collection(
    kafka_bootstrap_servers, kafka_topic
):
    """A producer held by its own callbacks lingers as cyclic garbage until a collection;
    a forked child (Celery prefork, gunicorn) that inherits it finalizes the parent's
    AIOProducer at its first collection and crashes."""
    made: list[weakref.ref[object]] = []

    async def publish_once() -> None:
        async with (
            confluent_async_pool(
                {"bootstrap_servers": kafka_bootstrap_servers}, max_size=1
            ) as pool,
            pool.acquire() as producer,
        ):
            made.append(weakref.ref(producer))
            await (await producer.produce(kafka_topic, value=b"x"))

    gc.disable()  # what a collection would hide: garbage waiting for one
    try:
        asyncio.run(publish_once())
        assert made[0]() is None, "the closed producer is still alive: a reference cycle"
        assert in_forked_child(lambda: str(gc.collect() >= 0)) == "True"
    finally:
        gc.enable()


def test_a_pool_closed_from_a_later_event_loop_delivers_what_librdkafka_holds_and_reports_the_rest(
    kafka_bootstrap_servers, kafka_topic, monkeypatch
):
    """`asyncio.run()` ended with the pool open, and a later one closes it (a script, an
    exit hook): AIOProducer's coroutines cannot run on the new loop. The close failed with
    "Event loop is closed" and reported 0 undelivered, 20 handed to librdkafka were never
    counted. Now what librdkafka holds is delivered and counted, and what AIOProducer still
    buffered (it never reached librdkafka) is reported undelivered."""
    monkeypatch.setattr(confluent_aio, "_AIO_BUFFER_TIMEOUT", 60.0)  # buffered stays buffered
    kit = confluent_aio.ConfluentAIOKit({"bootstrap.servers": kafka_bootstrap_servers})
    the_pool = async_pool(kit, max_size=1)

    async def publish_and_leave_it_open() -> None:
        async with the_pool.acquire() as producer:
            acked = [
                await producer.produce(kafka_topic, key=b"acked", value=b"x") for _ in "0" * 10
            ]
            await producer.flush(10)
            await asyncio.gather(*acked)
            for _ in range(20):
                await producer.produce(kafka_topic, key=b"handed", value=b"x")
            await producer.flush(0)  # handed to librdkafka; their results not awaited
            for _ in range(5):
                await producer.produce(kafka_topic, key=b"buffered", value=b"x")

    asyncio.run(publish_and_leave_it_open())
    with pytest.raises(PoolCloseError) as closed:
        asyncio.run(asyncio.wait_for(the_pool.close(timeout=10), 20))
    assert closed.value.undelivered == 5
    assert (the_pool.stats().delivered, the_pool.stats().delivery_errors) == (30, 5)
    keys = Counter(record.key for record in read_topic(kafka_bootstrap_servers, kafka_topic))
    assert keys == {b"acked": 10, b"handed": 20}
