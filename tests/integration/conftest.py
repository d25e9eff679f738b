"""Integration fixtures: a broker behind a relay that tests can cut, as if it went down."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from producer_pool.testing.broker import EmbeddedBroker, free_port
from producer_pool.testing.relay import LatencyRelay
from producer_pool.testing.topics import create_topic


@dataclass
class RelayedBroker:
    broker: EmbeddedBroker
    relay: LatencyRelay
    topic: str

    @property
    def bootstrap_servers(self) -> str:
        return self.broker.bootstrap_servers


@pytest.fixture
def relayed_broker() -> Iterator[RelayedBroker]:
    """A private broker whose clients all go through a relay: `relay.cut()` is an outage."""
    broker = EmbeddedBroker(advertised_port=free_port())
    if broker.external:
        pytest.skip("outage tests need the embedded broker, not KAFKA_BOOTSTRAP_SERVERS")
    relay_port = int(broker.bootstrap_servers.rsplit(":", 1)[1])
    with broker, LatencyRelay(broker.port, port=relay_port) as relay:
        create_topic(broker.bootstrap_servers, "outage")
        yield RelayedBroker(broker, relay, "outage")
