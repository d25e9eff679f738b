"""A bootstrap address no client could use is one line when it is read, naming the key and
the variable it came from: kafka-python and aiokafka raised ValueError or OverflowError from
deep inside the first producer (a traceback at the first request, or from `check`)."""

from __future__ import annotations

import pytest

from producer_pool import ConfigError, PoolError
from producer_pool.clients import kit_class
from producer_pool.clients._servers import servers_problem
from producer_pool.testing.broker import BOOTSTRAP_ENV, EmbeddedBroker
from producer_pool.wiring.containers import shipped_config
from tests.unit.test_config_file import one_line_error
from tests.unit.test_fail_fast import SERVERS_KEY


@pytest.mark.parametrize(
    "servers",
    [
        "127.0.0.1:9092",
        "kafka",
        "broker-1.kafka.svc:9093, broker-2.kafka.svc:9093",
        "[::1]:9092",
        "[::1]",
        "::1",
        "SASL_SSL://kafka:9093",
        "a:1,",  # an empty entry: the clients skip it
        ["a:1", "b:2"],
    ],
)
def test_every_form_the_clients_take_is_accepted(servers):
    assert servers_problem(servers) is None


@pytest.mark.parametrize(
    ("servers", "problem"),
    [
        (" , ", "names no server (host:port[,host:port])"),
        ("127.0.0.1:abc", "the port of '127.0.0.1:abc' must be a number from 1 to 65535"),
        ("a:1,b:99999", "the port of 'b:99999' must be a number from 1 to 65535"),
        ("kafka:", "the port of 'kafka:' must be a number from 1 to 65535"),
        ("kafka:0", "the port of 'kafka:0' must be a number from 1 to 65535"),
        ("kafka:²", "the port of 'kafka:²' must be a number from 1 to 65535"),
        ("kafka 1:9092", "'kafka 1:9092' is not host:port"),
        ("kafka:9092\n  acks: 0", "'kafka:9092\\n  acks: 0' is not host:port"),
        ("[::1]9092", "'[::1]9092' is not host:port"),
        (["a:1", "b:x"], "the port of 'b:x' must be a number from 1 to 65535"),
    ],
)
def test_an_address_no_client_could_use_is_named(servers, problem):
    assert servers_problem(servers) == problem


@pytest.mark.parametrize("client", sorted(SERVERS_KEY))
@pytest.mark.parametrize("servers", ["127.0.0.1:abc", "127.0.0.1:99999", " "])
def test_a_bad_address_from_the_environment_fails_the_container_in_one_line(
    monkeypatch, client, servers
):
    monkeypatch.setenv(BOOTSTRAP_ENV, servers)
    message = one_line_error(shipped_config(client))
    assert message.startswith(f"kafka.{SERVERS_KEY[client]}: ")
    assert message.endswith(f"(got {servers!r} from ${BOOTSTRAP_ENV})")


@pytest.mark.parametrize("client", sorted(SERVERS_KEY))
def test_a_kit_built_in_code_refuses_a_bad_address(client):
    with pytest.raises(ConfigError, match=r"^bootstrap_servers: the port of 'kafka:x' must be"):
        kit_class(client)({SERVERS_KEY[client]: "kafka:x"})


def test_the_embedded_broker_refuses_a_bad_address_in_the_environment(monkeypatch):
    """The demo and the pytest plugin use the variable as it is: kafka-python's admin
    client raised the ValueError before any settings were read."""
    monkeypatch.setenv(BOOTSTRAP_ENV, "127.0.0.1:abc")
    with pytest.raises(PoolError) as caught:
        EmbeddedBroker()
    assert str(caught.value) == (
        f"{BOOTSTRAP_ENV}: the port of '127.0.0.1:abc' must be a number from 1 to 65535"
    )
