"""aiokafka producers in an `AsyncProducerPool`, against the embedded broker: every message
read back, a dead broker in one line, an outage's losses counted at close."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import time
import weakref

import pytest
from aiokafka.errors import KafkaError

from producer_pool import BrokerUnavailable, PoolCloseError
from producer_pool.clients.aiokafka import PRIVATE_NAMES, aiokafka_pool
from producer_pool.testing.broker import free_port
from producer_pool.testing.topics import read_topic
from tests.fakes import publish_from_tasks
from tests.integration.outage_checks import assert_outage_accounted


async def test_tasks_publish_through_the_pool_and_every_message_is_read_back(
    kafka_bootstrap_servers, kafka_topic
):
    pool = aiokafka_pool({"bootstrap_servers": kafka_bootstrap_servers}, max_size=4)

    async def send(producer, key: bytes) -> asyncio.Future[object]:
        return await producer.send(kafka_topic, key=key)

    async with pool:
        _, leased = await publish_from_tasks(pool, send, tasks=20, per_task=50)
        assert pool.stats().delivered == 1000
    assert 1 < len(leased) <= 4
    records = await asyncio.to_thread(read_topic, kafka_bootstrap_servers, kafka_topic)
    keys = sorted(r.key.decode() for r in records)
    assert keys == sorted(f"{task}-{i}" for task in range(20) for i in range(50))


async def test_a_dead_broker_is_one_clear_error_within_the_bootstrap_timeout():
    servers = f"127.0.0.1:{free_port()}"
    pool = aiokafka_pool({"bootstrap_servers": servers, "bootstrap_timeout_ms": 500})
    async with pool:
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match=f"cannot reach Kafka at {servers} within"):
            async with pool.acquire(timeout=10):
                pass
        assert time.monotonic() - started < 5
    assert pool.stats().factory_errors == 1


async def test_close_in_an_outage_counts_what_it_could_not_deliver(relayed_broker):
    servers, topic = relayed_broker.bootstrap_servers, relayed_broker.topic
    pool = aiokafka_pool({"bootstrap_servers": servers, "linger_ms": 5}, max_size=2)
    async with pool.acquire() as producer:
        await (await producer.send(topic, b"warm-up"))
        relayed_broker.relay.cut()
        lost = [await producer.send(topic, f"lost-{i}".encode()) for i in range(30)]
    started = time.monotonic()
    with pytest.raises(PoolCloseError, match="30 message\\(s\\) undelivered") as caught:
        await pool.close(timeout=2)
    assert time.monotonic() - started < 4
    assert caught.value.undelivered == 30
    assert all(f.done() and f.exception() is not None for f in lost)
    assert (pool.stats().delivered, pool.stats().delivery_errors) == (1, 30)


async def test_an_outage_reaches_the_callers_and_the_pool_heals(relayed_broker):
    """The asyncio twin of the kafka-python outage test: sends during a cut fail their own
    futures within the request timeout, publishing works again once the broker is back, and
    close() reports exactly the messages that failed."""
    servers, topic = relayed_broker.bootstrap_servers, relayed_broker.topic
    settings = {
        "bootstrap_servers": servers,
        "request_timeout_ms": 1_000,
        "retry_backoff_ms": 50,
        "linger_ms": 5,
    }
    pool = aiokafka_pool(settings, max_size=2, on_exhausted="share", close_timeout=5)

    async def send(producer, key: bytes) -> asyncio.Future[object]:
        return await producer.send(topic, key=key, value=b"x")

    before, _ = await publish_from_tasks(pool, send, tasks=4, per_task=50)
    relayed_broker.relay.cut()
    during = []
    for i in range(20):
        async with pool.acquire() as producer:
            during.append(await send(producer, f"down-{i}".encode()))
    outcomes = await asyncio.wait_for(asyncio.gather(*during, return_exceptions=True), 30)
    failed = sum(isinstance(outcome, KafkaError) for outcome in outcomes)
    assert failed, "callers must be told about the outage"

    relayed_broker.relay.resume()
    after, _ = await asyncio.wait_for(publish_from_tasks(pool, send, tasks=4, per_task=50), 60)
    with pytest.raises(PoolCloseError) as caught:  # the outage's failures are reported again
        await pool.close()
    acknowledged = {f.result().offset for f in before + after}
    acknowledged |= {o.offset for o in outcomes if not isinstance(o, BaseException)}
    records = await asyncio.to_thread(read_topic, servers, topic)
    assert_outage_accounted(
        caught.value,
        pool.stats(),
        sent=len(before) + len(after) + len(during),
        failed=failed,
        acknowledged=acknowledged,
        stored={r.offset for r in records},
    )


async def _stop(producer) -> None:
    await producer.stop()  # behind the pool's back


async def _kill_sender(producer) -> None:
    producer._sender.sender_task.cancel()  # as when aiokafka's sender routine crashes
    with contextlib.suppress(asyncio.CancelledError):
        await producer._sender.sender_task


@pytest.mark.parametrize("breaking", [_stop, _kill_sender], ids=["stopped", "dead sender"])
async def test_a_broken_producer_fails_the_health_check_and_is_replaced(
    kafka_bootstrap_servers, kafka_topic, breaking
):
    settings = {"bootstrap_servers": kafka_bootstrap_servers}
    pool = aiokafka_pool(settings, max_size=1, close_timeout=5)  # a failing run fails fast
    async with pool:
        async with pool.acquire() as first:
            await (await first.send(kafka_topic, b"before"))
        async with pool.acquire() as same:
            assert same is first
            await breaking(first)
        async with pool.acquire() as second:
            await asyncio.wait_for(await second.send(kafka_topic, b"after"), 10)
        assert second is not first
        assert (pool.stats().failed_checks, pool.stats().created) == (1, 2)
    records = await asyncio.to_thread(read_topic, kafka_bootstrap_servers, kafka_topic)
    assert sorted(r.value for r in records) == [b"after", b"before"]


def test_a_closed_producer_is_freed_at_once(kafka_bootstrap_servers, kafka_topic):
    """The delivery-counting hook must not hold its producer: a cycle would keep every
    closed producer, with its buffers, alive until the next garbage collection."""
    made: list[weakref.ref[object]] = []

    async def publish_once() -> None:
        settings = {"bootstrap_servers": kafka_bootstrap_servers}
        async with aiokafka_pool(settings, max_size=1) as pool, pool.acquire() as producer:
            made.append(weakref.ref(producer))
            await (await producer.send(kafka_topic, b"x"))
        assert pool.stats().delivered == 1

    gc.disable()  # what a collection would hide: garbage waiting for one
    try:
        asyncio.run(publish_once())
        assert made[0]() is None, "the closed producer is still alive: a reference cycle"
    finally:
        gc.enable()


async def test_messages_sent_as_a_batch_are_counted_with_the_others(
    kafka_bootstrap_servers, kafka_topic
):
    pool = aiokafka_pool({"bootstrap_servers": kafka_bootstrap_servers}, max_size=1)
    async with pool:
        async with pool.acquire() as producer:
            batch = producer.create_batch()
            for i in range(5):
                batch.append(key=None, value=f"batched-{i}".encode(), timestamp=None)
            await (await producer.send_batch(batch, kafka_topic, partition=0))
            await (await producer.send(kafka_topic, b"single"))
        assert (pool.stats().delivered, pool.stats().delivery_errors) == (6, 0)
    records = await asyncio.to_thread(read_topic, kafka_bootstrap_servers, kafka_topic)
    assert sorted(r.value for r in records) == [b"batched-0", b"batched-1", b"batched-2",
                                                b"batched-3", b"batched-4", b"single"]  # fmt: skip


async def test_every_private_name_exists_on_the_installed_aiokafka(
    kafka_bootstrap_servers, kafka_topic
):
    settings = {"bootstrap_servers": kafka_bootstrap_servers, "linger_ms": 200}  # still queued
    pool = aiokafka_pool(settings, max_size=1)
    async with pool, pool.acquire() as producer:
        for path in PRIVATE_NAMES:
            functools.reduce(getattr, path.split("."), producer)  # raises if renamed
        delivery = await producer.send(kafka_topic, b"lingering")
        assert producer.in_flight == 1
        (queued,) = producer._message_accumulator._batches.values()
        batch = queued[0]  # what the counting and the close's expiry touch on a batch
        assert (batch.record_count, batch.future.done(), batch._ttl > 0) == (1, False, True)
        await delivery
        assert producer.in_flight == 0
