"""Parity, not a toy: the same publishing and transaction tests run against each fake kit
and against the real client's kit on the embedded broker, so a fake cannot drift from the
client it stands for. What a caller is told (the client's own result objects, normalized to
topic, partition, offset), what the pool counts, and what a reader reads (keys, values,
headers and offsets, transaction markers' offsets included) must be the same.

aiokafka's transactions run on the 3-broker mock cluster: tansu 0.6 refuses aiokafka's
producer ids.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from producer_pool.clients import kit_class
from producer_pool.testing.fakes import FakeBroker, fake_kit_class
from producer_pool.testing.topics import read_topic
from tests.drivers import Driver, messages_for

CLIENTS = ["kafka-python", "confluent", "confluent-aio", "aiokafka"]
#: (partition, offset, key, value, headers) of a record as a reader reads it.
Read = tuple[int, int, bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]


@dataclass
class Backend:
    """Where a kit publishes: a fake broker, or a real one; and how to read a topic."""

    name: str
    make_kit: Callable[..., Any]
    read: Callable[[str], list[Read]]


def _fake_backend(client: str) -> Backend:
    broker = FakeBroker()

    def read(topic: str) -> list[Read]:
        return [
            (r.partition, r.offset, r.key, r.value, r.headers)
            for r in broker.published(topic, committed=False)
        ]

    return Backend("fake", functools.partial(fake_kit_class(client), broker=broker), read)


def _real_backend(client: str, servers: str) -> Backend:
    def read(topic: str) -> list[Read]:
        return [
            (r.partition, r.offset, r.key, r.value, tuple(r.headers or ()))
            for r in read_topic(servers, topic)
        ]

    make = functools.partial(lambda settings, **kw: kit_class(client)(settings, **kw))
    return Backend("real", functools.partial(make, {"bootstrap_servers": servers}), read)


@pytest.fixture(params=["fake", "real"])
def backend_for(request: pytest.FixtureRequest) -> Callable[[str], Backend]:
    def make(client: str) -> Backend:
        if request.param == "fake":
            return _fake_backend(client)
        return _real_backend(client, request.getfixturevalue("kafka_bootstrap_servers"))

    return make


@pytest.mark.parametrize("client", CLIENTS)
def test_publishing_is_told_counted_and_read_back_alike(client, backend_for, kafka_topic):
    backend = backend_for(client)
    driver = Driver(client, backend.make_kit())
    messages = messages_for(client)
    told = [driver.send(kafka_topic, key, value, headers) for key, value, headers in messages]
    stats = driver.close()
    assert told == [(kafka_topic, 0, offset) for offset in range(3)]
    assert (stats.delivered, stats.delivery_errors) == (3, 0)
    assert backend.read(kafka_topic) == [
        (0, offset, key, value, tuple(headers))
        for offset, (key, value, headers) in enumerate(messages)
    ]


def test_headers_are_refused_by_the_aio_producer_alike(backend_for, kafka_topic):
    driver = Driver("confluent-aio", backend_for("confluent-aio").make_kit())
    try:
        with pytest.raises(NotImplementedError, match="Headers are not supported"):
            driver.send(kafka_topic, b"k", b"v", [("h", b"1")])
    finally:
        driver.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_a_transaction_commits_or_aborts_alike(client, backend_for, kafka_topic, kafka_cluster):
    backend = backend_for(client)
    if client == "aiokafka" and backend.name == "real":  # tansu refuses its producer ids
        backend = Backend("real", kit_on(kafka_cluster, client), read_on(kafka_cluster))
        kafka_topic = kafka_cluster.create_topic(kafka_topic, partitions=1)
    kit = backend.make_kit(transactional=True, transactional_id_prefix=f"parity-{client}")
    driver = Driver(client, kit)
    driver.transaction(kafka_topic, b"committed")
    driver.transaction(kafka_topic, b"aborted", abort=True)
    driver.transaction(kafka_topic, b"last")
    driver.close()
    # Each transaction ends with a marker, which takes an offset; a read_uncommitted reader
    # (tansu's read_committed too) reads the aborted record between them.
    assert [(offset, key) for _, offset, key, _, _ in backend.read(kafka_topic)] == [
        (0, b"committed"), (2, b"aborted"), (4, b"last")
    ]  # fmt: skip
    if backend.name == "fake":
        assert [r.key for r in kit.published(kafka_topic)] == [b"committed", b"last"]


def kit_on(cluster: Any, client: str) -> Callable[..., Any]:
    def make(**kw: Any) -> Any:
        return kit_class(client)({"bootstrap_servers": cluster.bootstrap_servers}, **kw)

    return make


def read_on(cluster: Any) -> Callable[[str], list[Read]]:
    def read(topic: str) -> list[Read]:
        return [(r.partition, r.offset, r.key, r.value, r.headers) for r in cluster.read(topic)]

    return read
