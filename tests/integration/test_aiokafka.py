"""aiokafka producers in an `AsyncProducerPool`, against the embedded broker: every message
read back, health checks, counts, the private names read (the faults every kit shares are
in test_faults.py)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import socket
import warnings
import weakref

import pytest

from producer_pool import PoolCloseError
from producer_pool.clients.aiokafka import PRIVATE_NAMES, AIOKafkaKit, aiokafka_pool
from producer_pool.testing.topics import read_topic
from tests.fakes import publish_from_tasks


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


def test_a_pool_closed_from_a_later_event_loop_reports_what_its_producers_could_not_send(
    relayed_broker, caplog
):
    """`asyncio.run()` ended with the pool open (the broker unreachable meanwhile), and a
    later one closes it: the sender ran on the ended loop, so nothing it queued can be sent.
    The destroy failed with "Event loop is closed", reporting 0 undelivered and counting
    nothing; now each message without a result is failed, counted and reported. The
    connections of the ended loop are aiokafka's to leave to the collector (collected here,
    so that no later test meets their ResourceWarnings)."""
    topic = relayed_broker.topic

    def publish_then_close_from_a_later_loop() -> tuple[int, int, int, weakref.ref[object]]:
        the_pool = aiokafka_pool({"bootstrap_servers": relayed_broker.bootstrap_servers})
        made: list[weakref.ref[object]] = []

        async def publish_and_leave_it_open() -> None:
            async with the_pool.acquire() as producer:
                made.append(weakref.ref(producer))
                acked = [await producer.send(topic, b"x", key=b"acked") for _ in "0" * 10]
                await asyncio.gather(*acked)
                relayed_broker.relay.cut()
                for _ in range(20):
                    await producer.send(topic, b"x", key=b"lost")

        asyncio.run(publish_and_leave_it_open())
        # the error log's traceback would keep the producer alive past the collection below
        with caplog.at_level(logging.CRITICAL, logger="producer_pool"):
            try:
                asyncio.run(asyncio.wait_for(the_pool.close(timeout=5), 20))
            except PoolCloseError as closed:
                undelivered = closed.undelivered
        stats = the_pool.stats()
        return undelivered, stats.delivered, stats.delivery_errors, made[0]

    with warnings.catch_warnings():  # the ended loop's sockets, closed by the collector
        warnings.simplefilter("ignore", ResourceWarning)
        undelivered, delivered, errors, made = publish_then_close_from_a_later_loop()
        gc.collect()
    assert made() is None
    assert (undelivered, delivered, errors) == (20, 10, 20)
    relayed_broker.relay.resume()
    keys = [record.key for record in read_topic(relayed_broker.broker.bootstrap_servers, topic)]
    assert keys == [b"acked"] * 10


async def test_a_creation_cancelled_while_the_cluster_is_silent_leaves_no_connection_open():
    """A request cut short (a task cancelled) while a new producer waits for a cluster that
    accepted its connection and says nothing: the producer is stopped, its connection
    closed at once, not left for the collector (KitBase._started)."""
    loop = asyncio.get_running_loop()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.setblocking(False)
        servers = f"127.0.0.1:{silent.getsockname()[1]}"
        kit = AIOKafkaKit({"bootstrap_servers": servers, "bootstrap_timeout_ms": 30_000})
        creation = asyncio.ensure_future(kit())
        connection, _ = await asyncio.wait_for(loop.sock_accept(silent), 10)
        with connection:
            creation.cancel()
            with pytest.raises(asyncio.CancelledError):
                await creation

            async def read_to_the_end() -> None:
                while await loop.sock_recv(connection, 4096):
                    pass  # its requests, unanswered, then the end of the stream

            await asyncio.wait_for(read_to_the_end(), 10)
