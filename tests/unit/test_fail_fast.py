"""`create_container(..., fail_fast=True)`: `init_resources()` makes a producer before it
returns, so a cluster out of reach fails the start in one line naming the file and the
key, instead of the first request (with `min_size: 0` nothing else connects at start)."""

from __future__ import annotations

import pytest

from producer_pool import BrokerUnavailable
from producer_pool.testing.broker import free_port
from producer_pool.wiring.containers import AsyncContainer, Container, create_container
from tests.config_files import client_config

SERVERS_KEY = {
    "kafka-python": "bootstrap_servers",
    "confluent": "bootstrap.servers",
    "confluent-aio": "bootstrap.servers",
    "aiokafka": "bootstrap_servers",
}


def dead_broker(tmp_path, client: str):
    """The client's shipped file pointed at a port nobody listens on, 300 ms to answer."""
    servers = f"127.0.0.1:{free_port()}"
    path = client_config(
        tmp_path, client, **{SERVERS_KEY[client]: servers, "bootstrap_timeout_ms": 300}
    )
    return path, servers


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_a_threaded_container_fails_its_start_in_one_line(tmp_path, client):
    path, servers = dead_broker(tmp_path, client)
    container = create_container(path, container_class=Container, fail_fast=True)
    with pytest.raises(BrokerUnavailable) as caught:
        container.init_resources()
    message = str(caught.value)
    assert message.startswith(
        f"{path}: kafka.bootstrap_servers: cannot reach Kafka at {servers} within 300 ms"
    )
    assert "\n" not in message
    container.shutdown_resources()


@pytest.mark.parametrize("client", ["confluent-aio", "aiokafka"])
async def test_an_asyncio_container_fails_its_start_in_one_line(tmp_path, client):
    path, servers = dead_broker(tmp_path, client)
    container = create_container(path, container_class=AsyncContainer, fail_fast=True)
    with pytest.raises(BrokerUnavailable) as caught:
        await container.init_resources()
    message = str(caught.value)
    assert message.startswith(
        f"{path}: kafka.bootstrap_servers: cannot reach Kafka at {servers} within 300 ms"
    )
    assert "\n" not in message
    await container.shutdown_resources()


def test_without_fail_fast_the_start_succeeds_and_the_first_request_fails(tmp_path):
    """What fail_fast is for: by default a wrong address shows only at the first request."""
    path, _ = dead_broker(tmp_path, "kafka-python")
    container = create_container(path)
    container.init_resources()
    try:
        with pytest.raises(BrokerUnavailable):
            container.publisher().publish({"order": 1})
    finally:
        container.shutdown_resources()
