"""Reading config files: every mistake is one line, and the environment never rewrites the
document (it is substituted into string values after parsing, never re-parsed)."""

from __future__ import annotations

import logging
import os
import pickle
import time
import tracemalloc
from pathlib import Path

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
        ("[" * 100 + "]" * 100, "line 1: nested more than 16 deep"),
        ("[" * 5_000 + "]" * 5_000, "line 1: "),  # libyaml may refuse it first, in its words
        ("pool: [unclosed\n", "line 2: not valid YAML: "),
        ("kafka:\n  bootstrap_servers: ${NO_SUCH_VARIABLE_X}\n", "kafka.bootstrap_servers: "
         "environment variable NO_SUCH_VARIABLE_X is not set and has no default"),
    ],
)  # fmt: skip
def test_a_malformed_file_fails_in_one_line(tmp_path, text, expected):
    assert one_line_error(config_with(tmp_path, text)).startswith(expected)


def _line(start: str) -> int:
    """The line of the shipped file that starts with `start`, counted from 1."""
    return next(n for n, line in enumerate(SHIPPED.splitlines(), 1) if line.startswith(start))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SHIPPED.replace("  max_size: 4", "  max_size: 4\n  max_size: 8"),
         f"pool.max_size: given twice (lines {_line('  max_size:')} and "
         f"{_line('  max_size:') + 1})"),
        (SHIPPED + "pool: {max_size: 8}\n",
         f"pool: given twice (lines {_line('pool:')} and {len(SHIPPED.splitlines()) + 1})"),
        ("kafka: {acks: all, acks: 1}\n", "kafka.acks: given twice (line 1)"),
        ("a: &a {k: 1, k: 2}\nb: [*a]\n", "a.k: given twice (line 1)"),
    ],
    ids=["option", "section", "flow", "anchored"],
)  # fmt: skip
def test_a_key_given_twice_is_refused_naming_it(tmp_path, text, expected):
    """PyYAML keeps a repeated key's last value without a word: a copied block edited in
    one place changed `max_size` unseen (here, 4 became 8)."""
    assert one_line_error(config_with(tmp_path, text)) == expected


def test_a_file_that_cannot_be_read_is_one_line(tmp_path):
    """A file without read permission (a secret mounted for another user) was a
    PermissionError traceback, any failed read an OSError one; a pipe (`--config
    <(envsubst < x.yaml)`) or a device was "no such config file", though it exists."""
    unreadable = config_with(tmp_path, SHIPPED)
    unreadable.chmod(0)
    if not os.access(unreadable, os.R_OK):  # root reads it anyway
        assert one_line_error(unreadable) == "cannot read it: Permission denied"
    if Path("/proc/self/mem").is_file():  # Linux: a regular file whose read fails, for root too
        assert one_line_error(Path("/proc/self/mem")) == "cannot read it: Input/output error"
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert one_line_error(fifo) == "not a regular file"


@pytest.mark.parametrize(("section", "shown"), [(None, "None"), ([4], "[4]")])
def test_a_pool_section_that_is_no_mapping_shows_its_value_once(section, shown):
    with pytest.raises(ConfigError) as caught:
        create_container(overrides={"pool": section})
    assert str(caught.value) == (
        f"{DEFAULT_CONFIG_PATH}: pool: must be a mapping of pool options (got {shown})"
    )


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = config_with(tmp_path, SHIPPED + "# " + "x" * 10_000_000 + "\n")
    assert one_line_error(path).startswith("10,")


def test_an_unset_variable_in_a_comment_is_ignored(tmp_path):
    path = config_with(tmp_path, SHIPPED + "# set ${NO_SUCH_VARIABLE_X} to change this\n")
    create_container(path)


#: The shipped file with its client_id taken from CLIENT_ID: a free-text option, which
#: the environment's odd values reach as they are (a topic or an address is checked).
WITH_CLIENT_ID = SHIPPED.replace("client_id: producer-pool", "client_id: ${CLIENT_ID}")


def test_a_newline_in_a_variable_cannot_add_a_key(tmp_path, monkeypatch):
    # (the same in KAFKA_BOOTSTRAP_SERVERS is refused: not host:port, test_bootstrap_servers)
    monkeypatch.setenv("CLIENT_ID", "svc\nkafka:\n  acks: 0")
    settings = create_container(config_with(tmp_path, WITH_CLIENT_ID)).settings()
    assert settings.kafka.acks == "all"
    assert settings.kafka.client_id == "svc\nkafka:\n  acks: 0"


@pytest.mark.parametrize("value", ["null", "123456", "*x", "&y", "true", "{a: 1}"])
def test_a_variable_is_text_whatever_it_looks_like(tmp_path, monkeypatch, value):
    monkeypatch.setenv("CLIENT_ID", value)
    settings = create_container(config_with(tmp_path, WITH_CLIENT_ID)).settings()
    assert settings.kafka.client_id == value


@pytest.mark.parametrize("topic", ["bad topic!", "a" * 250, "..", "orders/eu"])
def test_a_topic_kafka_would_refuse_is_refused_when_read(tmp_path, monkeypatch, topic):
    """The clients check a topic's name only when they send: kafka-python raised ValueError
    from every publish, aiokafka waited 40 s per publish for the metadata of a topic that
    cannot exist, librdkafka failed each delivery."""
    monkeypatch.setenv("PRODUCER_POOL_TOPIC", topic)
    assert one_line_error(config_with(tmp_path, SHIPPED)) == (
        "publisher.topic: a Kafka topic name is 1 to 249 of a-z A-Z 0-9 . _ - (and not . or ..)"
        f" (got {topic!r} from $PRODUCER_POOL_TOPIC)"
    )
    monkeypatch.setenv("PRODUCER_POOL_TOPIC", "orders.eu_1-" + "a" * 237)  # 249: the longest
    create_container(config_with(tmp_path, SHIPPED))


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


def test_a_bad_pool_variable_fails_the_pools_own_rule_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("POOL_SIZE", "four")
    text = SHIPPED.replace("max_size: 4", "max_size: ${POOL_SIZE:4}")
    assert one_line_error(config_with(tmp_path, text)) == (
        "pool.max_size: must be an integer >= 1 (got 'four' from $POOL_SIZE)"
    )


@pytest.mark.parametrize(
    ("shipped", "variable", "expected"),
    [
        ("max_size: 4", "${N:4}", "pool.max_size: must be an integer >= 1 (got '²' from $N)"),
        (
            "acks: all",
            "${N:all}",
            "kafka.acks: Input should be 0, 1, -1 or 'all' (got '²' from $N)",
        ),
    ],
)
def test_a_variable_that_only_looks_like_digits_is_text(
    tmp_path, monkeypatch, shipped, variable, expected
):
    """'²'.isdigit() is true but int('²') fails: a ValueError traceback (kafka.acks), or
    "pool: invalid literal for int()" naming no key (pool.max_size)."""
    monkeypatch.setenv("N", "²")
    key = shipped.partition(":")[0]
    text = SHIPPED.replace(shipped, f"{key}: {variable}")
    assert one_line_error(config_with(tmp_path, text)) == expected


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


def _laughs(name: str, indent: str = "") -> str:
    """A "billion laughs": 9 levels of 10 aliases each, 10^9 values once expanded."""
    lines = [f'{indent}{name}0: &{name}0 "lol"']
    lines += [
        f"{indent}{name}{n}: &{name}{n} [{', '.join([f'*{name}{n - 1}'] * 10)}]"
        for n in range(1, 10)
    ]
    return "\n".join(lines) + "\n"


def _merges(indent: str) -> str:
    """The same through merge keys: each mapping merges the one below 10 times."""
    lines = [f"{indent}m0: &m0 {{k: v}}"]
    lines += [
        f"{indent}m{n}: &m{n} {{<<: [{', '.join([f'*m{n - 1}'] * 10)}]}}" for n in range(1, 7)
    ]
    return "\n".join(lines) + "\n"


def _chain(indent: str, length: int = 2_000) -> str:
    """Each value a list holding the previous one: 2,000 deep once expanded, 46 kB."""
    lines = [f"{indent}c0: &c0 x"]
    lines += [f"{indent}c{n}: &c{n} [*c{n - 1}]" for n in range(1, length)]
    return "\n".join(lines) + "\n"


def _in_kafka(lines: str) -> str:
    """The shipped file with `lines` added to its kafka section."""
    last = "  bootstrap_timeout_ms: 10000\n"
    assert last in SHIPPED
    return SHIPPED.replace(last, last + lines)


_LAST_KAFKA_LINE = SHIPPED.splitlines().index("  bootstrap_timeout_ms: 10000") + 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_laughs("lol") + SHIPPED, "lol4: its aliases expand to more than 10,000 values"),
        (_in_kafka(_laughs("lol", "  ")), "kafka.lol4: its aliases expand to more than 10,000"),
        (_in_kafka(_merges("  ")), "kafka.m4: its aliases expand to more than 10,000 values"),
        (_in_kafka(_chain("  ")), "kafka.c15: nested more than 16 deep once its aliases are"),
        (_in_kafka("  loop: &loop [*loop]\n"), f"line {_LAST_KAFKA_LINE + 1}: an alias refers"),
        ("x: [" + "1, " * 10_001 + "]", "line 1: more than 10,000 values"),
    ],
    ids=["laughs", "laughs-under-kafka", "merge-keys", "alias-chain", "recursive", "long"],
)  # fmt: skip
def test_an_alias_bomb_is_refused_at_once_in_one_line(tmp_path, text, expected):
    """Issue 21 defect 7: a 540-byte file of nested aliases kept `check` busy past 30 s at
    400 MB; a 31 kB alias chain ended in a RecursionError. Refused now whatever the aliases,
    within a second of CPU and a few MB (measured here: under 0.1 s and 4 MB)."""
    path = config_with(tmp_path, text)
    tracemalloc.start()
    started = time.process_time()
    try:
        message = one_line_error(path)
    finally:
        spent = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert message.startswith(expected)
    assert spent < 1.0
    assert peak < 5_000_000


def test_aliases_within_bounds_still_work(tmp_path):
    text = SHIPPED.replace("max_size: 4", "max_size: &size 4").replace(
        "min_size: 0", "min_size: *size"
    )
    text = text.replace("  acks: all\n", "  acks: all\n  <<: {linger_ms: 7, retries: 2}\n")
    settings = create_container(config_with(tmp_path, text)).settings()
    assert (settings.pool.max_size, settings.pool.min_size) == (4, 4)
    assert (settings.kafka.linger_ms, settings.kafka.retries) == (5, 2)  # the file's own wins


def test_a_key_of_a_file_with_variables_can_be_overridden_on_the_container(tmp_path):
    """dependency-injector deep-copies the config to override one key: a value from the
    environment (every shipped file has two) failed to copy, a TypeError traceback."""
    container = create_container(config_with(tmp_path, SHIPPED))
    container.config.publisher.topic.override("orders")
    assert container.config.publisher.topic() == "orders"
    servers = container.config.kafka.bootstrap_servers()
    assert (servers, servers.variable) == ("127.0.0.1:9092", "KAFKA_BOOTSTRAP_SERVERS")


def test_a_value_from_the_environment_survives_a_pickle(tmp_path):
    config = create_container(config_with(tmp_path, SHIPPED)).config()
    servers = pickle.loads(pickle.dumps(config))["kafka"]["bootstrap_servers"]
    assert servers.variable == "KAFKA_BOOTSTRAP_SERVERS"
