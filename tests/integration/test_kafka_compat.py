"""Every kafka-python private name `_kafka_compat` touches exists on the installed version,
and a missing one falls back with one warning instead of breaking the pool."""

from __future__ import annotations

import functools
import gc
import logging
import threading
import uuid
import warnings

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.net.inet import KafkaNetSocket
from kafka.net.transport import KafkaSSLTransport, KafkaTCPTransport
from kafka.producer.transaction_manager import TransactionManager, TransactionState
from kafka.protocol.metadata import MetadataRequest

from producer_pool import BrokerUnavailable
from producer_pool.clients import _kafka_compat as compat
from producer_pool.clients.kafka_python import kafka_producer_factory
from producer_pool.core.stats import DeliveryCounts
from producer_pool.testing.broker import free_port
from producer_pool.testing.topics import create_topic


def test_every_private_name_exists_on_the_installed_kafka_python(
    kafka_bootstrap_servers, kafka_topic, closing
):
    settings = {"bootstrap_servers": kafka_bootstrap_servers, "linger_ms": 60_000}
    producer = closing(kafka_producer_factory(settings)())  # a batch lingers until flushed
    for path in compat.PRIVATE_NAMES:
        functools.reduce(getattr, path.split("."), producer)  # raises if renamed
    (connection,) = producer._sender._client._manager._conns.values()
    for name in compat.TRANSPORT_PRIVATE_NAMES:
        getattr(connection.transport, name)  # raises if renamed
    assert getattr(KafkaTCPTransport._write_to_sock, "_producer_pool_patch", False)
    for name in compat.SSL_TRANSPORT_PRIVATE_NAMES:
        assert callable(getattr(KafkaSSLTransport, name))  # raises if renamed
    assert callable(TransactionManager.has_fatal_error)
    assert callable(TransactionManager.reset_producer_id)
    assert TransactionState.UNINITIALIZED is not None
    assert "client" in KafkaProducer.__init__.__code__.co_varnames
    assert compat.is_alive(producer) and not compat.in_fatal_state(producer)
    assert compat.undelivered(producer) == 0
    # handed out only with its producer id: kafka-python's own id loop is behind it
    assert producer._transaction_manager.has_producer_id()
    # what counting by batch reads on a batch, and the shape of a batch's result
    delivery = producer.send(kafka_topic, b"lingering")
    (batch,) = producer._accumulator._incomplete.all()
    assert (batch.record_count, batch.produce_future.is_done) == (1, False)
    producer.flush(timeout=10)
    assert delivery.succeeded() and producer.deliveries.delivered == 1
    base_offset, _timestamp, record_errors = batch.produce_future.value
    assert (base_offset, record_errors) == (0, None)


def test_a_renamed_internal_falls_back_and_warns_once(caplog, monkeypatch):
    monkeypatch.setattr(compat, "_warned", set())  # whatever ran before warned nothing yet

    class Renamed:
        """Stands in for a future kafka-python producer whose privates moved."""

    with caplog.at_level(logging.WARNING, "producer_pool"):
        assert compat.is_alive(Renamed()) is True  # degraded: never replace on every checkout
        assert compat.is_alive(Renamed()) is True
        assert compat.undelivered(Renamed()) == 0
        assert compat.count_deliveries_by_batch(Renamed(), DeliveryCounts()) is False
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("the health check falls back" in w for w in warnings) == 1
    assert sum("the undelivered count falls back" in w for w in warnings) == 1
    assert sum("counting deliveries per batch falls back" in w for w in warnings) == 1


def test_without_counting_by_batch_each_message_is_counted(
    kafka_bootstrap_servers, kafka_topic, closing, monkeypatch
):
    monkeypatch.setattr(compat, "count_deliveries_by_batch", lambda producer, counts: False)
    producer = closing(kafka_producer_factory({"bootstrap_servers": kafka_bootstrap_servers})())
    futures = [producer.send(kafka_topic, f"m-{i}".encode()) for i in range(5)]
    producer.flush(timeout=10)
    assert all(f.succeeded() for f in futures)
    assert (producer.deliveries.delivered, producer.deliveries.failed) == (5, 0)


def test_a_failed_connect_leaves_no_socket_behind():
    """kafka-python 3.0.12 left each failed connect's socket to the garbage collector, whose
    ResourceWarning then failed whichever test was running (the suite once excused them)."""
    servers = f"127.0.0.1:{free_port()}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(BrokerUnavailable):
            kafka_producer_factory({"bootstrap_servers": servers, "bootstrap_timeout_ms": 300})()
        gc.collect()
    assert getattr(KafkaNetSocket.sock_connect, "_producer_pool_patch", False)
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_a_consumer_closed_while_a_request_is_unsent_closes_its_socket(kafka_bootstrap_servers):
    """kafka-python 3.0.12 left the socket open when a consumer closed with a request still
    unsent (its metadata refresh or its next fetch): the graceful close waits for the flush,
    and the I/O loop, stopping, cancels the flush before it closes the socket. The garbage
    collector then raised `ResourceWarning: unclosed <socket ...>` in whatever test ran next.
    Staged here: the I/O loop is held between queueing a request and the consumer's close."""
    topic = f"leak-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap_servers, topic)
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap_servers)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.poll(timeout_ms=300)  # connects to the partition's leader
    net = consumer._net
    (leader,) = (c for c in consumer._client._manager._conns.values() if c.connected)
    # close() would first wait for the coordinator on the loop held below: done beforehand
    consumer._coordinator.close(autocommit=False, timeout_ms=1000)
    consumer._coordinator.close = lambda **_: None
    # close() stops the loop by setting _stop, then waking it: each wake-up sets `woken`
    woken, wakeup = threading.Event(), net.wakeup
    net.wakeup = lambda: (woken.set(), wakeup())[1]
    queued = threading.Event()

    def queue_a_request_then_hold_the_loop() -> None:  # runs on the I/O thread
        leader.send_request(MetadataRequest(topics=None))  # a writer task, a non-empty buffer
        queued.set()
        while not net._stop:  # until close() stops the loop: its writer never gets a select()
            woken.wait(10)
            woken.clear()

    net.call_soon_threadsafe(queue_a_request_then_hold_the_loop)
    assert queued.wait(10)
    sock = leader.transport._sock
    consumer.close()
    assert sock.fileno() == -1
