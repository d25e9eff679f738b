"""kafka-python's transactional pools against the broker: exclusivity, share mode refused
(commit, abort and fencing, for every kit, are in test_faults.py)."""

from __future__ import annotations

import threading

import pytest

from producer_pool import ConfigError
from producer_pool.clients.kafka_python import kafka_pool, transaction
from producer_pool.testing.topics import read_topic


class BusinessFailure(Exception):
    pass


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


def test_a_transactional_pool_refuses_share_mode(kafka_bootstrap_servers):
    with pytest.raises(ConfigError, match="on_exhausted"):
        kafka_pool(
            {"bootstrap_servers": kafka_bootstrap_servers},
            transactional=True,
            on_exhausted="share",
        )
