"""pytest fixtures for code that publishes to Kafka: a broker per session, a topic per test,
and a 3-broker cluster with faults per test.

Installed as a `pytest11` plugin, so users of producer-pool get them too. With
`KAFKA_BOOTSTRAP_SERVERS` set the broker fixtures run against that cluster instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .broker import EmbeddedBroker

if TYPE_CHECKING:
    from .cluster import MockCluster
    from .fakes.aiokafka import FakeAIOKafkaKit
    from .fakes.confluent import FakeConfluentAIOKit, FakeConfluentKit
    from .fakes.kafka_python import FakeKafkaPythonKit

__all__ = [
    "fake_aiokafka",
    "fake_confluent",
    "fake_confluent_aio",
    "fake_kafka_python",
    "kafka_bootstrap_servers",
    "kafka_cluster",
    "kafka_topic",
]


@pytest.fixture(scope="session")
def kafka_bootstrap_servers() -> Iterator[str]:
    """Bootstrap servers of a broker that lives for the whole test session."""
    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def kafka_topic(kafka_bootstrap_servers: str) -> str:
    """A fresh, uniquely named single-partition topic."""
    from .topics import create_topic

    name = f"test-{uuid.uuid4().hex[:12]}"
    create_topic(kafka_bootstrap_servers, name)
    return name


@pytest.fixture
def kafka_cluster() -> Iterator[MockCluster]:
    """librdkafka's mock cluster: 3 brokers on 127.0.0.1, replication 3, with faults as methods
    (`broker_down`, `move_leader`, `fail_produce`, `set_rtt`); `create_topic` pins the
    leaders. Skipped where confluent-kafka or a mock function is missing."""
    from .cluster import ClusterUnavailable, MockCluster

    try:
        cluster = MockCluster(brokers=3)
    except ClusterUnavailable as exc:
        pytest.skip(str(exc))
    with cluster:
        yield cluster


def _fake(name: str) -> object:
    """A fresh fake kit for the client `name`; skipped where that client is not installed."""
    from .fakes import fake_kit_class

    try:
        return fake_kit_class(name)()
    except ImportError as exc:
        pytest.skip(f"the {name} fake needs its client ({exc.name} is missing)")


@pytest.fixture
def fake_kafka_python() -> FakeKafkaPythonKit:
    """A kafka-python kit of in-memory producers: `pool(fake)`, or
    `container.producer_factory.override(providers.Object(fake))`; then
    `fake.published("orders")`, `fake.fail_next(2)`, `with fake.outage():`, `fake.fence()`."""
    return _fake("kafka-python")  # type: ignore[return-value]


@pytest.fixture
def fake_confluent() -> FakeConfluentKit:
    """`fake_kafka_python` for confluent-kafka's `Producer` (callbacks served on poll)."""
    return _fake("confluent")  # type: ignore[return-value]


@pytest.fixture
def fake_confluent_aio() -> FakeConfluentAIOKit:
    """`fake_kafka_python` for confluent-kafka's `AIOProducer`, for an `async_pool`."""
    return _fake("confluent-aio")  # type: ignore[return-value]


@pytest.fixture
def fake_aiokafka() -> FakeAIOKafkaKit:
    """`fake_kafka_python` for aiokafka's `AIOKafkaProducer`, for an `async_pool`."""
    return _fake("aiokafka")  # type: ignore[return-value]
