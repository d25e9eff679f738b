"""Reading config files: every mistake is one line, and the environment never rewrites the
document (it is substituted into string values after parsing, never re-parsed)."""

from __future__ import annotations

import logging

import pytest

from producer_pool import ConfigError
from producer_pool.wiring.containers import DEFAULT_CONFIG_PATH, create_container

SHIPPED = DEFAULT_CONFIG_PATH.read_text()


def config_with(tmp_path, text: str):
    path = tmp_path / "producer_pool.yaml"
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return path


def one_line_error(path) -> str:
    with pytest.raises(ConfigError) as caught:
        create_container(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty; expected the keys pool, kafka and publisher"),
        ("# nothing but a comment\n", "empty"),
        ("- pool\n- kafka\n", "the top level must be a mapping of pool, kafka and publisher"),
        ("42\n", "the top level must be a mapping"),
        (b"pool:\n  name: \xff\xfe\n", "not UTF-8 text (byte 14)"),
        ("[" * 5_000 + "]" * 5_000, "line 1: nested more than 16 deep"),
        ("pool: [unclosed\n", "line 2: not valid YAML: expected ',' or ']'"),
        ("kafka:\n  bootstrap_servers: ${NO_SUCH_VARIABLE_X}\n", "kafka.bootstrap_servers: "
         "environment variable NO_SUCH_VARIABLE_X is not set and has no default"),
    ],
)  # fmt: skip
def test_a_malformed_file_fails_in_one_line(tmp_path, text, expected):
    assert one_line_error(config_with(tmp_path, text)).startswith(expected)


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = config_with(tmp_path, SHIPPED + "# " + "x" * 10_000_000 + "\n")
    assert one_line_error(path).startswith("10,")


def test_an_unset_variable_in_a_comment_is_ignored(tmp_path):
    path = config_with(tmp_path, SHIPPED + "# set ${NO_SUCH_VARIABLE_X} to change this\n")
    create_container(path)


def test_a_newline_in_a_variable_cannot_add_a_key(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092\n  acks: 0")
    settings = create_container(config_with(tmp_path, SHIPPED)).settings()
    assert settings.kafka.acks == "all"
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092\n  acks: 0"


@pytest.mark.parametrize("value", ["null", "123456", "*x", "&y", "true", "{a: 1}"])
def test_a_variable_is_text_whatever_it_looks_like(tmp_path, monkeypatch, value):
    monkeypatch.setenv("PRODUCER_POOL_TOPIC", value)
    settings = create_container(config_with(tmp_path, SHIPPED)).settings()
    assert settings.publisher.topic == value


def test_a_variable_takes_its_fields_type(tmp_path, monkeypatch):
    monkeypatch.setenv("POOL_SIZE", "6")
    monkeypatch.setenv("LINGER", "20")
    text = SHIPPED.replace("max_size: 4", "max_size: ${POOL_SIZE:4}")
    text = text.replace("linger_ms: 5", "linger_ms: ${LINGER:5}")
    settings = create_container(config_with(tmp_path, text)).settings()
    assert (settings.pool.max_size, settings.kafka.linger_ms) == (6, 20)


def test_a_bad_variable_is_named_in_the_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "")
    message = one_line_error(config_with(tmp_path, SHIPPED))
    assert message.startswith("kafka.bootstrap_servers: String should have at least 1 character")
    assert message.endswith("(got '' from $KAFKA_BOOTSTRAP_SERVERS)")


def test_secrets_never_print(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("KAFKA_PASSWORD", "hunter2")
    text = SHIPPED.replace(
        "  client_id: producer-pool\n",
        "  client_id: producer-pool\n  sasl_plain_username: me\n"
        "  sasl_plain_password: ${KAFKA_PASSWORD}\n  ssl_password: hunter2\n",
    )
    container = create_container(config_with(tmp_path, text))
    settings = container.settings()
    factory = container.producer_factory()
    shown = [
        repr(settings), str(settings), settings.model_dump_json(), repr(settings.kafka),
        str(container.config()), repr(factory), repr(settings.kafka.producer_options()),
    ]  # fmt: skip
    assert all("hunter2" not in text for text in shown), [t for t in shown if "hunter2" in t]


def test_a_bad_secret_is_not_shown_in_its_error(tmp_path):
    text = SHIPPED.replace(
        "  client_id: producer-pool\n", "  client_id: producer-pool\n  ssl_password: [hunter2]\n"
    )
    message = one_line_error(config_with(tmp_path, text))
    assert message.startswith("kafka.ssl_password: ")
    assert "hunter2" not in message


def test_a_failed_connection_logs_no_secret(caplog):
    from producer_pool import BrokerUnavailable
    from producer_pool.clients.kafka_python import KafkaProducerFactory
    from producer_pool.testing.broker import free_port

    factory = KafkaProducerFactory(
        {
            "bootstrap_servers": f"127.0.0.1:{free_port()}",
            "bootstrap_timeout_ms": 300,
            "sasl_plain_username": "me",
            "sasl_plain_password": "hunter2",
        }
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(BrokerUnavailable) as caught:
        factory()
    assert caplog.records  # kafka-python did log the attempt
    assert "hunter2" not in caplog.text
    assert "hunter2" not in str(caught.value)
