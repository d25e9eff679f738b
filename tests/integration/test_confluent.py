"""The confluent kit (librdkafka's `Producer`) against the broker: read back, librdkafka's
logs in Python's logging (the faults every kit shares are in test_faults.py)."""

from __future__ import annotations

import logging
import time

import pytest

from producer_pool.clients.confluent import confluent_pool
from producer_pool.clients.kafka_python import BrokerUnavailable
from producer_pool.testing.broker import free_port
from producer_pool.testing.topics import read_topic


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
