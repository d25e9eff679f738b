"""The confluent kit (librdkafka's `Producer`) against the broker: read back, librdkafka's
logs in Python's logging (the faults every kit shares are in test_faults.py)."""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
import weakref

import pytest

from producer_pool.clients import pool
from producer_pool.clients.confluent import POLLER_NAME, ConfluentKit, confluent_pool
from producer_pool.clients.kafka_python import BrokerUnavailable
from producer_pool.testing.broker import free_port
from producer_pool.testing.topics import read_topic
from producer_pool.wiring.services import EventPublisher
from tests.fakes import in_forked_child

#: How long a delivery result may take to reach its caller here (a loaded machine); with
#: nobody polling, it never came before the producer's next send or its close.
RESULT_WAIT = 5.0


def test_confluent_pool_publishes_and_flushes_on_close(
    kafka_bootstrap_servers, kafka_topic, closing
):
    pool = closing(confluent_pool({"bootstrap_servers": kafka_bootstrap_servers, "linger_ms": 5}))
    delivered: list[bytes] = []
    for i in range(1_000):
        with pool.acquire() as producer:
            producer.produce(
                kafka_topic,
                key=f"k-{i}".encode(),
                value=b"x",
                on_delivery=lambda err, msg: err is None and delivered.append(msg.key()),
            )
            producer.poll(0)
    pool.close()
    keys = {r.key for r in read_topic(kafka_bootstrap_servers, kafka_topic)}
    assert keys == {f"k-{i}".encode() for i in range(1_000)}
    assert pool.stats().destroyed == pool.stats().created


def test_delivery_results_arrive_without_anyone_polling(kafka_bootstrap_servers, kafka_topic):
    """librdkafka runs delivery callbacks only inside poll() or flush(): a lone publish's
    future resolved at the producer's next send or at the pool's close, so
    `publish(...).result(timeout)` waited the whole timeout. Each producer's poller serves
    them now, counted once each, and close() still flushes and reports exactly."""
    kit = ConfluentKit({"bootstrap.servers": kafka_bootstrap_servers, "linger.ms": 5})
    the_pool = pool(kit, max_size=2)
    publisher = EventPublisher(the_pool, kafka_topic)
    try:
        started = time.monotonic()
        lone = publisher.publish({"order": 1}, key="customer-7").result(timeout=RESULT_WAIT)
        waited = time.monotonic() - started
        told = threading.Event()
        with the_pool.acquire() as producer:  # a caller's own callback, and no poll
            producer.produce(
                kafka_topic, key=b"own", value=b"{}", on_delivery=lambda *_: told.set()
            )
        assert told.wait(RESULT_WAIT)
        batch = publisher.publish_many([{"order": n} for n in range(200)], key="customer-8")
        offsets = [future.result(timeout=RESULT_WAIT).offset() for future in batch]
    finally:
        the_pool.close(timeout=10)
    assert lone.key() == b"customer-7" and waited < RESULT_WAIT
    assert offsets == sorted(offsets)
    stats = the_pool.stats()
    assert (stats.delivered, stats.delivery_errors, stats.destroyed) == (202, 0, stats.created)
    assert len(read_topic(kafka_bootstrap_servers, kafka_topic)) == 202
    assert not pollers()


def pollers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == POLLER_NAME]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_polls_its_own_producers_and_a_closed_one_is_freed_at_once(
    kafka_bootstrap_servers, kafka_topic
):
    """A child forked while the parent's pollers run has none of them, and leaves the
    parent's producers alone; its own producers get pollers, so its lone publish resolves
    with no other traffic. A poller holds its producer only while polling: a closed
    producer is freed at once (cyclic garbage is what a forked child's collection would
    finalize, and crash on)."""
    settings = {"bootstrap.servers": kafka_bootstrap_servers}
    parent = pool(ConfluentKit(settings), max_size=1)
    parent_sent = EventPublisher(parent, kafka_topic).publish({}, key="parent")

    def child() -> str:
        own = pool(ConfluentKit(settings), max_size=1)
        try:
            sent = EventPublisher(own, kafka_topic).publish({}, key="child")
            return f"{sent.result(timeout=RESULT_WAIT).key()!r} {len(pollers())}"
        finally:
            own.close(timeout=10)

    gc.disable()  # what a collection would hide: garbage waiting for one
    try:
        assert parent_sent.result(timeout=RESULT_WAIT).key() == b"parent"
        assert in_forked_child(child) == "b'child' 1"
        with parent.acquire() as producer:
            made = weakref.ref(producer)
        del producer
        parent.close(timeout=10)
        assert made() is None, "the closed producer is still alive: a reference cycle"
    finally:
        gc.enable()
    assert not pollers()
    keys = sorted(record.key for record in read_topic(kafka_bootstrap_servers, kafka_topic))
    assert keys == [b"child", b"parent"]


def test_confluent_factory_reports_a_dead_broker_within_its_timeout(closing, caplog, capfd):
    servers = f"127.0.0.1:{free_port()}"
    pool = closing(confluent_pool({"bootstrap_servers": servers}, bootstrap_timeout=1.0))
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="confluent_kafka"):
        with pytest.raises(BrokerUnavailable, match=servers), pool.acquire():
            pass
        assert time.monotonic() - started < 1.0 + 5
        pool.close()
    # librdkafka's own lines go to Python's logging (which the CLI quiets), not to stderr
    assert "Connection refused" in caplog.text
    assert "rdkafka" not in capfd.readouterr().err
