"""pytest fixtures for code that publishes to Kafka: a broker per session, a topic per test.

Installed as a `pytest11` plugin, so users of producer-pool get them too. With
`KAFKA_BOOTSTRAP_SERVERS` set they run against that cluster instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from .broker import EmbeddedBroker

__all__ = ["kafka_bootstrap_servers", "kafka_topic"]


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
