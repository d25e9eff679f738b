"""Integration fixtures: a broker behind a relay that tests can cut, as if it went down."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from producer_pool.core import clock as _clock
from producer_pool.testing.broker import EmbeddedBroker, free_port
from producer_pool.testing.relay import LatencyRelay
from producer_pool.testing.topics import create_topic
from tests.integration.kits import DRIVERS, Driver, Portal


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


@pytest.fixture(params=sorted(DRIVERS))
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    """Each client kit in turn, as the fault suite drives it; its pools are closed at the
    end of the test, whatever happens."""
    cls = DRIVERS[request.param]
    driver = cls(request.param, Portal() if cls.is_async else None)
    yield driver
    driver.dispose()


@pytest.fixture
def jump_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Move the pools' clock forward by hand while it keeps running (deadlines still pass).
    Patch it before building the pool: a pool reads the clock it was built with."""
    real = _clock.monotonic
    offset = [0.0]
    monkeypatch.setattr(_clock, "monotonic", lambda: real() + offset[0])

    def jump(seconds: float) -> None:
        offset[0] += seconds

    return jump
