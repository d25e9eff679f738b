"""Transactional pools against the broker: commit, abort, exclusivity, fencing."""

from __future__ import annotations

import contextlib
import threading

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaError

from producer_pool import ConfigError
from producer_pool.clients.kafka_python import kafka_pool, transaction
from producer_pool.testing.topics import read_topic
from tests.fakes import wait_until
from tests.integration.transaction_checks import assert_aborted_closed_by_markers


class BusinessFailure(Exception):
    pass


def test_committed_records_are_read_back_and_aborted_ones_are_closed_by_a_marker(
    kafka_bootstrap_servers, kafka_topic, closing
):
    pool = closing(
        kafka_pool({"bootstrap_servers": kafka_bootstrap_servers}, transactional=True, max_size=2)
    )
    with transaction(pool) as producer:
        for i in range(3):
            producer.send(kafka_topic, key=f"committed-{i}".encode(), value=b"x")
    with pytest.raises(BusinessFailure), transaction(pool) as producer:
        for i in range(2):
            producer.send(kafka_topic, key=f"aborted-{i}".encode(), value=b"x")
        producer.flush()  # the records reach the broker, so only the ABORT marker hides them
        raise BusinessFailure
    with transaction(pool) as producer:
        producer.send(kafka_topic, key=b"committed-last", value=b"x")
    pool.close()

    committed_view = {
        r.key: r.offset
        for r in read_topic(kafka_bootstrap_servers, kafka_topic, isolation_level="read_committed")
    }
    assert {b"committed-0", b"committed-1"} <= set(committed_view)
    assert_aborted_closed_by_markers(
        committed_view, b"committed-2", [b"aborted-0", b"aborted-1"], b"committed-last"
    )


def test_concurrent_transactions_never_interleave_on_one_producer(
    kafka_bootstrap_servers, kafka_topic, closing
):
    pool = closing(
        kafka_pool({"bootstrap_servers": kafka_bootstrap_servers}, transactional=True, max_size=4)
    )
    in_transaction: dict[int, bool] = {}
    overlaps: list[str] = []
    ids: set[str] = set()
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(number: int) -> None:
        start.wait(30)
        for tx in range(10):
            with transaction(pool) as producer:
                with lock:
                    if in_transaction.get(id(producer)):
                        overlaps.append(producer.config["transactional_id"])
                    in_transaction[id(producer)] = True
                    ids.add(producer.config["transactional_id"])
                for i in range(5):
                    producer.send(kafka_topic, key=f"{number}-{tx}-{i}".encode(), value=b"x")
                with lock:
                    in_transaction[id(producer)] = False

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    pool.close()
    assert overlaps == []
    assert len(ids) <= 4
    assert {i.rsplit("-", 1)[1] for i in ids} <= {"0", "1", "2", "3"}
    keys = [r.key for r in read_topic(kafka_bootstrap_servers, kafka_topic)]
    assert sorted(keys) == sorted(
        f"{n}-{tx}-{i}".encode() for n in range(8) for tx in range(10) for i in range(5)
    )


@pytest.mark.parametrize("fence_seen", ["in the block", "before commit"])
def test_a_fenced_producer_is_discarded_and_its_replacement_reuses_the_id(
    kafka_bootstrap_servers, kafka_topic, closing, fence_seen
):
    """Whichever error surfaces (ProducerFencedError, or kafka-python's plain KafkaError
    "...in an error state" when the fence lands before commit), the next transaction works."""
    pool = closing(
        kafka_pool(
            {"bootstrap_servers": kafka_bootstrap_servers},
            transactional=True,
            transactional_id_prefix="fencing-test",
            max_size=1,
        )
    )
    with transaction(pool) as producer:
        producer.send(kafka_topic, b"first")
        original = producer
    zombie_killer = closing(
        KafkaProducer(bootstrap_servers=kafka_bootstrap_servers, transactional_id="fencing-test-0")
    )
    zombie_killer.init_transactions()  # bumps the epoch: the pooled producer is now a zombie
    zombie_killer.close()
    with pytest.raises(KafkaError), transaction(pool) as producer:
        sent = producer.send(kafka_topic, b"from the zombie")
        if fence_seen == "before commit":
            with contextlib.suppress(KafkaError):
                sent.get(10)  # the broker's fence has arrived: the producer is in a fatal state
    with transaction(pool) as producer:
        assert producer is not original
        assert producer.config["transactional_id"] == "fencing-test-0"
        producer.send(kafka_topic, b"after fencing")
    wait_until(lambda: pool.stats().destroyed == 1)


def test_a_transactional_pool_refuses_share_mode(kafka_bootstrap_servers):
    with pytest.raises(ConfigError, match="on_exhausted"):
        kafka_pool(
            {"bootstrap_servers": kafka_bootstrap_servers},
            transactional=True,
            on_exhausted="share",
        )
