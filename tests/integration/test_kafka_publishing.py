"""kafka-python publishing through the pool against the broker: nothing is lost, and the
client's own faults (producer ids, expiry, forks) are handled; the faults every kit shares
are in test_faults.py."""

from __future__ import annotations

import contextlib
import os
import time

import pytest
from kafka.errors import KafkaConnectionError, KafkaError

from producer_pool import PoolCloseError
from producer_pool.clients.kafka_python import kafka_pool
from producer_pool.testing.topics import read_topic
from tests.fakes import in_forked_child, publish_from_threads, run_in_thread, wait_until


def warm_up_then_cut(pool, relayed_broker) -> None:
    """One acknowledged message (so the producer knows the topic), then the outage."""
    with pool.acquire() as producer:
        producer.send(relayed_broker.topic, b"warm-up").get(10)
    relayed_broker.relay.cut()


def test_eight_threads_lose_nothing_and_duplicate_nothing(
    kafka_bootstrap_servers, kafka_topic, closing
):
    pool = closing(
        kafka_pool({"bootstrap_servers": kafka_bootstrap_servers, "linger_ms": 5}, max_size=4)
    )
    started = time.perf_counter()
    futures = publish_from_threads(pool, kafka_topic, threads=8, per_thread=5_000)
    pool.close()  # flushes every producer: all futures are resolved afterwards
    elapsed = time.perf_counter() - started
    assert len(futures) == 40_000
    assert all(f.is_done and f.succeeded() for f in futures)
    keys = [record.key for record in read_topic(kafka_bootstrap_servers, kafka_topic)]
    assert len(keys) == 40_000
    assert set(keys) == {f"{t}-{i}".encode() for t in range(8) for i in range(5_000)}
    print(f"\npooled publish: {40_000 / elapsed:,.0f} msg/s ({pool.stats()})")


def test_a_producer_whose_id_was_reset_gets_a_new_one(
    kafka_bootstrap_servers, kafka_topic, closing
):
    """kafka-python resets the producer id when a sent batch expires in an outage, then waited
    forever for a new id (the outage test above hung about one run in seven)."""
    pool = closing(kafka_pool({"bootstrap_servers": kafka_bootstrap_servers}, max_size=1))
    with pool.acquire() as producer:
        producer.send(kafka_topic, key=b"before", value=b"x").get(10)
        first_id = producer._transaction_manager.producer_id_and_epoch.producer_id
        producer._transaction_manager.reset_producer_id()  # what the sender does on expiry
        producer.send(kafka_topic, key=b"after", value=b"x").get(10)
        assert producer._transaction_manager.producer_id_and_epoch.producer_id not in (-1, first_id)
    pool.close()
    assert [r.key for r in read_topic(kafka_bootstrap_servers, kafka_topic)] == [
        b"before",
        b"after",
    ]


def node_down_for_good(producer) -> None:
    """Nothing: the relay is cut, and the node looks down."""


def node_looks_ready_but_is_dead(producer) -> None:
    """The race seen under two CPU hogs: the node passed a readiness check, then died before
    kafka-python's `await_ready`, whose loop retried the producer-id request forever."""
    client = producer._sender._client

    def dead(node_id, timeout_ms=0):
        raise KafkaConnectionError(f"Node {node_id} not ready after {timeout_ms} ms")

    client.is_ready = lambda node_id, **kwargs: True
    client.await_ready = dead


@pytest.mark.parametrize("stage", [node_down_for_good, node_looks_ready_but_is_dead])
def test_a_producer_waiting_for_a_new_id_in_an_outage_still_expires_its_batches(
    relayed_broker, closing, stage
):
    """kafka-python's sender skips batch expiry while it waits for a producer id, so during an
    outage after an id reset, futures hung past delivery_timeout_ms until the broker was back
    (the outage test failed one full run in twenty)."""
    servers, topic = relayed_broker.bootstrap_servers, relayed_broker.topic
    settings = {
        "bootstrap_servers": servers,
        "request_timeout_ms": 1_000,
        "delivery_timeout_ms": 2_000,
        "reconnect_backoff_max_ms": 200,
    }
    pool = closing(kafka_pool(settings, max_size=1))
    with pool.acquire() as producer:
        producer.send(topic, b"warm-up").get(10)
        relayed_broker.relay.cut()
        stage(producer)
        producer._transaction_manager.reset_producer_id()  # what an expired, sent batch causes
        future = producer.send(topic, b"during the outage")
        with contextlib.suppress(KafkaError):
            future.get(10)
        assert future.is_done and future.failed()  # expired, not still pending
        assert "delivery timeout passed" in str(future.exception)


def test_a_producer_retired_in_an_outage_drains_in_the_background(relayed_broker, clock, closing):
    """Retirement once force-closed the producer after close_timeout, in the caller's thread:
    with a short outage, 0 of 100 messages arrived and leaving the block took 30 s."""
    servers, topic = relayed_broker.bootstrap_servers, relayed_broker.topic
    settings = {
        "bootstrap_servers": servers,
        "request_timeout_ms": 1_000,
        "delivery_timeout_ms": 30_000,
        "reconnect_backoff_max_ms": 200,
    }
    pool = closing(kafka_pool(settings, max_size=1, max_lifetime=60))
    warm_up_then_cut(pool, relayed_broker)
    with pool.acquire() as producer:
        futures = [producer.send(topic, f"kept-{i}".encode()) for i in range(100)]
        clock.advance(61 * 1.1)  # its lifetime ends while it is leased: retired on return
    stats = pool.stats()
    assert (stats.size, stats.destroying) == (0, 1)  # left the pool at once, still draining
    relayed_broker.relay.resume()
    wait_until(lambda: pool.stats().destroyed == 1, timeout=30)
    assert all(f.succeeded() for f in futures)
    keys = {r.value for r in read_topic(servers, topic)}
    assert {f"kept-{i}".encode() for i in range(100)} <= keys


def test_close_counts_batches_that_expire_during_its_flush(relayed_broker, closing):
    """Batches that expired while close() flushed once counted as complete: close said
    nothing while 500 of 500 futures had failed."""
    servers, topic = relayed_broker.bootstrap_servers, relayed_broker.topic
    settings = {
        "bootstrap_servers": servers,
        "request_timeout_ms": 2_000,
        "delivery_timeout_ms": 4_000,
    }
    pool = closing(kafka_pool(settings, max_size=1, close_timeout=10))
    warm_up_then_cut(pool, relayed_broker)
    with pool.acquire() as producer:
        futures = [producer.send(topic, f"lost-{i}".encode()) for i in range(500)]
    with pytest.raises(PoolCloseError) as caught:
        pool.close(timeout=8)
    assert sum(f.failed() for f in futures) == 500
    assert caught.value.undelivered == 500
    stats = pool.stats()
    assert (stats.delivery_errors, stats.delivered) == (500, 1)


def test_close_flushes_every_producer_in_parallel_under_one_deadline(relayed_broker, closing):
    """Each producer once got its own 30 s close_timeout, one after another: 4 took 120 s."""
    servers, topic = relayed_broker.bootstrap_servers, relayed_broker.topic
    pool = closing(kafka_pool({"bootstrap_servers": servers, "linger_ms": 60_000}, max_size=4))
    leases = [pool.acquire() for _ in range(4)]
    producers = [lease.__enter__() for lease in leases]
    assert len({id(p) for p in producers}) == 4
    for producer in producers:
        producer.send(topic, b"warm-up")
        producer.flush(10)
    relayed_broker.relay.cut()
    futures = [p.send(topic, f"lost-{i}".encode()) for p in producers for i in range(5)]
    for lease in leases:
        lease.__exit__(None, None, None)
    closing_pool = run_in_thread(lambda: pool.close(timeout=3))
    with pytest.raises(PoolCloseError) as caught:
        closing_pool.result(timeout=20)  # bounded by close's 3 s, never 4 x close_timeout
    assert caught.value.undelivered == 20
    assert len(caught.value.errors) == 4
    assert all(f.is_done and f.failed() for f in futures)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_publishes_with_fresh_producers(
    kafka_bootstrap_servers, kafka_topic, closing
):
    pool = closing(kafka_pool({"bootstrap_servers": kafka_bootstrap_servers}, max_size=2))
    with pool.acquire() as producer:
        producer.send(kafka_topic, key=b"parent-before", value=b"x").get(10)
        parent_producer = producer

    def child() -> str:
        with pool.acquire(timeout=10) as producer:
            fresh = producer is not parent_producer
            futures = [
                producer.send(kafka_topic, key=f"child-{i}".encode(), value=b"x") for i in range(50)
            ]
        pool.close(timeout=10)
        return f"fresh={fresh} delivered={sum(bool(f.get(0)) for f in futures)}"

    assert in_forked_child(child) == "fresh=True delivered=50"
    with pool.acquire() as producer:
        assert producer is parent_producer  # the parent's producer survived the child
        producer.send(kafka_topic, key=b"parent-after", value=b"x").get(10)
    pool.close()
    keys = {r.key for r in read_topic(kafka_bootstrap_servers, kafka_topic)}
    assert keys == {b"parent-before", b"parent-after"} | {f"child-{i}".encode() for i in range(50)}
