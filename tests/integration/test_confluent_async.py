"""confluent-kafka's AIOProducer in an `AsyncProducerPool`, against the embedded broker: read
back, transactions that commit or abort, a fence from a second producer, an outage at close."""

from __future__ import annotations

import asyncio
import gc
import os
import time
import weakref

import pytest
from confluent_kafka import KafkaException, Producer

from producer_pool import BrokerUnavailable, PoolCloseError
from producer_pool.clients.confluent import confluent_async_pool, transaction
from producer_pool.testing.broker import free_port
from producer_pool.testing.topics import read_topic
from tests.fakes import in_forked_child, publish_from_tasks
from tests.integration.transaction_checks import assert_aborted_closed_by_markers


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


async def test_a_transaction_commits_on_success_and_aborts_on_error(
    kafka_bootstrap_servers, kafka_topic
):
    settings = {"bootstrap_servers": kafka_bootstrap_servers}
    async with confluent_async_pool(
        settings, transactional=True, transactional_id_prefix="aio-tx", max_size=2
    ) as pool:
        async with transaction(pool) as producer:
            await producer.produce(kafka_topic, key=b"committed", value=b"x")
        with pytest.raises(RuntimeError, match="business rule"):
            async with transaction(pool) as producer:
                await producer.produce(kafka_topic, key=b"aborted", value=b"x")
                await producer.flush(10)  # on the log, so only the ABORT marker hides it
                raise RuntimeError("business rule")
        async with transaction(pool) as producer:
            await producer.produce(kafka_topic, key=b"committed-last", value=b"x")
    records = await asyncio.to_thread(
        read_topic, kafka_bootstrap_servers, kafka_topic, isolation_level="read_committed"
    )
    view = {r.key: r.offset for r in records}
    assert_aborted_closed_by_markers(view, b"committed", [b"aborted"], b"committed-last")


async def test_a_fenced_aio_producer_is_discarded_and_its_replacement_reuses_the_id(
    kafka_bootstrap_servers, kafka_topic
):
    settings = {"bootstrap_servers": kafka_bootstrap_servers}
    async with confluent_async_pool(
        settings, transactional=True, transactional_id_prefix="aio-fence", max_size=1
    ) as pool:
        async with transaction(pool) as producer:
            await producer.produce(kafka_topic, key=b"first", value=b"x")
            original = producer
        zombie_killer = Producer(
            {"bootstrap.servers": kafka_bootstrap_servers, "transactional.id": "aio-fence-0"}
        )
        await asyncio.to_thread(zombie_killer.init_transactions, 10)  # bumps the epoch
        zombie_killer.close()
        with pytest.raises(KafkaException):
            async with transaction(pool) as producer:
                await producer.produce(kafka_topic, key=b"from the zombie", value=b"x")
        async with transaction(pool) as producer:
            assert producer is not original
            await producer.produce(kafka_topic, key=b"after fencing", value=b"x")
        assert pool.stats().created == 2
    committed = await read_keys(
        kafka_bootstrap_servers, kafka_topic, isolation_level="read_committed"
    )
    assert b"first" in committed and b"after fencing" in committed


async def test_a_dead_broker_is_one_clear_error_within_the_bootstrap_timeout():
    servers = f"127.0.0.1:{free_port()}"
    async with confluent_async_pool({"bootstrap_servers": servers}, bootstrap_timeout=1.0) as pool:
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match=f"cannot reach Kafka at {servers} within"):
            async with pool.acquire(timeout=10):
                pass
        assert time.monotonic() - started < 6


async def test_close_in_an_outage_counts_what_it_could_not_deliver(relayed_broker):
    servers, topic = relayed_broker.bootstrap_servers, relayed_broker.topic
    pool = confluent_async_pool({"bootstrap_servers": servers}, max_size=1)
    async with pool.acquire() as producer:
        await (await producer.produce(topic, value=b"warm-up"))
        relayed_broker.relay.cut()
        lost = [await producer.produce(topic, value=f"lost-{i}".encode()) for i in range(30)]
    started = time.monotonic()
    with pytest.raises(PoolCloseError, match="30 message\\(s\\) undelivered") as caught:
        await pool.close(timeout=2)
    assert time.monotonic() - started < 4
    assert caught.value.undelivered == 30
    assert all(f.done() and f.exception() is not None for f in lost)
    assert (pool.stats().delivered, pool.stats().delivery_errors) == (1, 30)
