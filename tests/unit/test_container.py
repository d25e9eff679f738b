"""The dependency-injector container: YAML settings, per-test overrides, no shared state."""

from __future__ import annotations

import pytest
from dependency_injector import providers

from producer_pool import ConfigError
from producer_pool.clients.kafka_python import KafkaProducerFactory
from producer_pool.wiring.containers import DEFAULT_CONFIG_PATH, Container, create_container
from tests.config_files import DELETE, write_config
from tests.fakes import CountingFactory, ResourceFactory


@pytest.fixture
def container():
    """A fresh container per test whose factory makes ints: no Kafka involved."""
    container = create_container()
    container.producer_factory.override(providers.Object(CountingFactory()))
    yield container
    container.shutdown_resources()


def test_overriding_only_the_factory_gives_a_working_pool(container):
    pool = container.pool()
    with pool.acquire() as first, pool.acquire() as second:
        assert (first, second) == (0, 1)
    assert pool is container.pool()  # one pool per container
    assert pool.stats().max_size == container.settings().pool.max_size


class RecordingSender:
    """A producer stand-in that records what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send(self, topic, value=None, key=None, headers=None):
        self.sent.append((topic, value, key))
        return len(self.sent)


def test_the_publisher_sends_through_the_containers_pool_to_its_topic(container):
    sender = RecordingSender()
    container.producer_factory.override(providers.Object(lambda: sender))
    publisher = container.publisher()
    publisher.publish({"order": 1}, key="7")
    topic = container.settings().publisher.topic
    assert sender.sent == [(topic, b'{"order":1}', b"7")]
    assert container.pool().stats().acquired == 1


def test_two_containers_never_share_a_pool():
    first, second = create_container(), create_container()
    for container in (first, second):
        container.producer_factory.override(providers.Object(CountingFactory()))
    try:
        assert first.pool() is not second.pool()
        with first.pool().acquire():
            assert second.pool().stats().in_use == 0
    finally:
        first.shutdown_resources()
        second.shutdown_resources()


def test_overrides_never_leak_into_the_container_class(container):
    container.pool()
    fresh = create_container()
    assert isinstance(fresh.producer_factory(), KafkaProducerFactory)
    assert not Container.producer_factory.overridden


def test_shutdown_resources_closes_the_pool_and_destroys_every_object():
    container = create_container()
    resources = ResourceFactory()
    container.producer_factory.override(providers.Object(resources))
    pool = container.pool()
    with pool.acquire(), pool.acquire():
        pass
    container.shutdown_resources()
    assert pool.closed
    assert [r.close_calls for r in resources.made] == [1, 1]


def test_env_variables_fill_the_yaml_placeholders(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9093,kafka-2:9093")
    monkeypatch.setenv("PRODUCER_POOL_TOPIC", "orders")
    settings = create_container().settings()
    assert settings.kafka.bootstrap_servers == "kafka-1:9093,kafka-2:9093"
    assert settings.publisher.topic == "orders"


def test_overrides_merge_over_the_file():
    settings = create_container(overrides={"pool": {"max_size": 3}}).settings()
    assert settings.pool.max_size == 3
    assert settings.pool.name == "events"


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("pool", "max_size", 0, "pool.max_size: must be an integer >= 1 (got 0)"),
        ("pool", "max_size", "many", "pool.max_size: must be an integer >= 1 (got 'many')"),
        ("pool", "min_size", 99, "pool: min_size must be <= max_size=4 (got 99)"),
        ("pool", "acquire_timeout", -1, "pool.acquire_timeout: must be a number of seconds >= 0"),
        ("pool", "max_waiting", -2, "pool.max_waiting: must be null or an integer >= 0 (got -2)"),
        ("pool", "max_lifetime", 0, "pool.max_lifetime: must be null or a number of seconds > 0"),
        ("pool", "max_idle", -1, "pool.max_idle: must be null or a number of seconds > 0"),
        ("pool", "leak_timeout", 0, "pool.leak_timeout: must be null or a number of seconds > 0"),
        ("pool", "on_exhausted", "grow", "pool.on_exhausted: must be 'block' or 'share'"),
        ("pool", "close_timeout", -1, "pool.close_timeout: must be a number of seconds >= 0"),
        ("pool", "max_size", True, "pool.max_size: must be an integer >= 1 (got True)"),
        ("pool", "max_waiting", False, "pool.max_waiting: must be null or an integer >= 0"),
        ("pool", "max_sise", 3, "pool.max_sise: unknown key; did you mean max_size?"),
        ("pool", "check", "ping", "pool.check: unknown key"),  # code sets it, not a file
        ("kafka", "bootstrap_servers", DELETE, "kafka.bootstrap_servers: required key"),
        ("kafka", "bootstrap_servers", "", "kafka.bootstrap_servers: String should have at least"),
        (
            "kafka",
            "lingerms",
            5,
            "kafka.lingerms: unknown kafka-python producer option; did you mean linger_ms?",
        ),
        ("kafka", "acks", "banana", "kafka.acks: Input should be 0, 1, -1 or 'all'"),
        ("kafka", "linger_ms", -5, "kafka.linger_ms: Input should be greater than or equal to 0"),
        ("kafka", "linger_ms", True, "kafka.linger_ms: Input should be a valid integer"),
        ("kafka", "compression_type", "rar", "kafka.compression_type: Input should be 'gzip'"),
        ("publisher", "topic", "", "publisher.topic: String should have at least 1 character"),
        ("publisher", "partition", 1, "publisher.partition: unknown key"),
    ],
)
def test_each_bad_key_fails_in_one_line_naming_it(tmp_path, section, key, value, expected):
    path = write_config(tmp_path, section, key, value)
    with pytest.raises(ConfigError) as caught:
        create_container(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {expected}")
    assert "\n" not in message


def test_an_unknown_top_level_section_is_an_error(tmp_path):
    path = tmp_path / "extra.yaml"
    path.write_text(DEFAULT_CONFIG_PATH.read_text() + "\nmetrics:\n  port: 9090\n")
    with pytest.raises(ConfigError, match=r"extra\.yaml: metrics: unknown key"):
        create_container(path)


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such config file"):
        create_container(tmp_path / "nope.yaml")
