"""Every kafka-python private name `_kafka_compat` touches exists on the installed version,
and a missing one falls back with one warning instead of breaking the pool."""

from __future__ import annotations

import functools
import gc
import logging
import warnings

import pytest
from kafka import KafkaProducer
from kafka.net.inet import KafkaNetSocket
from kafka.producer.transaction_manager import TransactionManager, TransactionState

from producer_pool import BrokerUnavailable
from producer_pool.clients import _kafka_compat as compat
from producer_pool.clients.kafka_python import kafka_producer_factory
from producer_pool.core.stats import DeliveryCounts
from producer_pool.testing.broker import free_port


def test_every_private_name_exists_on_the_installed_kafka_python(
    kafka_bootstrap_servers, kafka_topic, closing
):
    settings = {"bootstrap_servers": kafka_bootstrap_servers, "linger_ms": 60_000}
    producer = closing(kafka_producer_factory(settings)())  # a batch lingers until flushed
    for path in compat.PRIVATE_NAMES:
        functools.reduce(getattr, path.split("."), producer)  # raises if renamed
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


def test_a_renamed_internal_falls_back_and_warns_once(caplog):
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
    assert getattr(KafkaNetSocket.sock_connect, "_closes_on_failure", False)
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
