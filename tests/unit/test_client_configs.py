"""A config file per client: `kafka.client` picks the kit, and the `kafka:` section is
validated against that client's settings model when the container is created, so every
option the client would refuse fails then, in one line naming the file and the key."""

from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest
import yaml

from producer_pool import ConfigError
from producer_pool.clients.aiokafka import AIOKafkaKit
from producer_pool.clients.confluent import ConfluentKit
from producer_pool.clients.confluent_aio import ConfluentAIOKit
from producer_pool.clients.kafka_python import KafkaPythonKit
from producer_pool.wiring.containers import (
    SHIPPED_CONFIGS,
    AsyncContainer,
    Container,
    create_container,
    shipped_config,
)
from tests.config_files import client_config

KIT_CLASSES = {
    "kafka-python": (KafkaPythonKit, Container),
    "confluent": (ConfluentKit, Container),
    "confluent-aio": (ConfluentAIOKit, AsyncContainer),
    "aiokafka": (AIOKafkaKit, AsyncContainer),
}


def one_line_error(path, client: str) -> str:
    with pytest.raises(ConfigError) as caught:
        create_container(path, container_class=KIT_CLASSES[client][1])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


def kit_of(container):
    if hasattr(container, "async_producer_factory"):
        return container.async_producer_factory()
    return container.producer_factory()


@pytest.mark.parametrize("client", sorted(SHIPPED_CONFIGS))
def test_each_shipped_file_builds_its_clients_kit(client):
    kit_class, container_class = KIT_CLASSES[client]
    container = create_container(shipped_config(client), container_class=container_class)
    assert container.settings().kafka.client == client
    kit = kit_of(container)
    assert type(kit) is kit_class
    assert kit.servers == "127.0.0.1:9092"
    assert kit.bootstrap_timeout == 10.0


def test_a_file_that_names_no_client_is_kafka_python(tmp_path):
    path = client_config(tmp_path, "kafka-python", client=None)
    assert type(create_container(path).producer_factory()) is KafkaPythonKit


@pytest.mark.parametrize(
    ("client", "kafka", "expected"),
    [
        ("kafka-python", {"lingerms": 5}, "kafka.lingerms: unknown kafka-python producer option; "
         "did you mean linger_ms?"),
        ("kafka-python", {"max_batch_size": 5}, "kafka.max_batch_size: unknown kafka-python"),
        ("kafka-python", {"partitioner": "x"}, "kafka.partitioner: takes a Python object"),
        ("kafka-python", {"transactional_id": "x"}, "kafka.transactional_id: assigned per "),
        ("kafka-python", {"retries": -1}, "kafka.retries: Input should be greater than or equal"),
        ("kafka-python", {"delivery_timeout_ms": 100}, "kafka.delivery_timeout_ms: must be >= "
         "linger_ms + request_timeout_ms (5 + 30000)"),
        ("kafka-python", {"ssl_cafile": "/no/ca.pem"}, "kafka.ssl_cafile: no such file "
         "(got '/no/ca.pem')"),
        ("kafka-python", {"enable_idempotence": True, "acks": 1}, "kafka.acks: must be all with "
         "enable_idempotence (got 1)"),
        ("confluent", {"linger_ms": 7}, "kafka.linger_ms: the same option as linger.ms; set one"),
        ("confluent", {"linger.msec": 7}, "kafka.linger.msec: unknown librdkafka producer option;"
         " did you mean linger.ms?"),
        ("confluent", {"group.id": "g"}, "kafka.group.id: a consumer property: a producer ignores"),
        ("confluent", {"queue.buffering.max.kbytes": 0}, "kafka.queue.buffering.max.kbytes: "
         "Input should be greater than or equal to 1 (got 0)"),
        ("confluent", {"compression.type": "rar"}, "kafka.compression.type: Input should be "
         "'none', 'gzip', 'snappy', 'lz4' or 'zstd' (got 'rar')"),
        ("confluent", {"error_cb": "print"}, "kafka.error_cb: takes a Python object"),
        ("confluent", {"enable.idempotence": True, "acks": 1}, "kafka.acks: librdkafka refuses "
         "it: `acks` must be set to `all` when `enable.idempotence` is true"),
        ("confluent-aio", {"api.version.request": True}, "kafka.api.version.request: deprecated"),
        ("confluent-aio", {"debug": "broker,bogus"}, "kafka.debug: 'bogus' is not one of "),
        ("aiokafka", {"max_batchsize": 5}, "kafka.max_batchsize: unknown aiokafka producer "
         "option; did you mean max_batch_size?"),
        ("aiokafka", {"enable_idempotence": True, "acks": 1}, "kafka.acks: must be all with "
         "enable_idempotence (got 1)"),
        ("aiokafka", {"api_version": "2.5"}, "kafka.api_version: deprecated by aiokafka"),
    ],
)  # fmt: skip
def test_each_clients_mistakes_fail_in_one_line(tmp_path, client, kafka, expected):
    assert one_line_error(client_config(tmp_path, client, **kafka), client).startswith(expected)


#: The typed kafka-python fields of 0.1's `KafkaSettings` that aiokafka refused only inside
#: `await init_resources()`, in a 15-frame traceback naming no file or key.
AIOKAFKA_LATE_REFUSALS = [
    "batch_size", "buffer_memory", "retries", "max_in_flight_requests_per_connection",
    "delivery_timeout_ms", "max_block_ms", "reconnect_backoff_ms", "reconnect_backoff_max_ms",
]  # fmt: skip


@pytest.mark.parametrize("key", AIOKAFKA_LATE_REFUSALS)
def test_an_option_aiokafka_lacks_is_refused_when_the_container_is_created(tmp_path, key):
    """Issue 21 defect 6 (aiokafka): refused now, naming the key and what aiokafka has."""
    message = one_line_error(client_config(tmp_path, "aiokafka", **{key: 5}), "aiokafka")
    assert message.startswith(f"kafka.{key}: ")
    assert "aiokafka" in message


def test_a_removed_kafka_python_option_is_refused_when_the_container_is_created(tmp_path):
    """Issue 21 defect 6: kafka-python 3 refuses `buffer_memory` at `init_resources()`."""
    path = client_config(tmp_path, "kafka-python", buffer_memory=33_554_432)
    assert one_line_error(path, "kafka-python") == (
        "kafka.buffer_memory: removed in kafka-python 3 (KafkaProducer refuses it)"
    )


def test_an_aiokafka_user_can_set_a_batch_size(tmp_path):
    """Issue 21 defect 6: aiokafka's own name was refused as no kafka-python option."""
    container = create_container(
        client_config(tmp_path, "aiokafka", max_batch_size=65_536), container_class=AsyncContainer
    )
    assert kit_of(container).options["max_batch_size"] == 65_536


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate and its key, encrypted with a password."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-days", "2", "-subj", "/CN=kafka",
         "-keyout", key, "-out", cert, "-passout", "pass:hunter2"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def tls_options(cert, key):
    """The kafka: options of a TLS client with `tls_files` (the same names in both clients)."""
    return {
        "security_protocol": "SSL",
        "ssl_cafile": str(cert),
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
        "ssl_password": "hunter2",
    }


def test_an_aiokafka_user_can_give_tls_files(tmp_path, tls_files):
    """Issue 21 defect 6: aiokafka takes only an `SSLContext`; a file can now name its CA,
    certificate, key and password, from which the context is built, and a wrong password
    is refused when the container is created, naming its key and hiding it."""
    tls = tls_options(*tls_files)
    container = create_container(
        client_config(tmp_path, "aiokafka", **tls), container_class=AsyncContainer
    )
    options = kit_of(container).options
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert not {"ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password"} & set(options)
    message = one_line_error(
        client_config(tmp_path, "aiokafka", **{**tls, "ssl_password": "wrong-password"}), "aiokafka"
    )
    assert message.startswith("kafka.ssl_certfile: cannot load the TLS files")
    assert "wrong-password" not in message


def test_a_kafka_python_tls_file_that_does_not_load_is_named_when_read(tmp_path, tls_files):
    """kafka-python loads its TLS files at each connection, in its I/O thread: one that
    did not load made the bootstrap time out as "cannot reach Kafka" (the cause only
    logged, with -v). The same files as aiokafka's test load; a wrong password, a file
    that is no certificate, and a CRL file (kafka-python 3.0 passes it as
    `load_verify_locations(crl=...)`, a TypeError at every connection) are refused."""
    tls = tls_options(*tls_files)
    assert (
        kit_of(create_container(client_config(tmp_path, "kafka-python", **tls))).options[
            "ssl_cafile"
        ]
        == tls["ssl_cafile"]
    )
    wrong = client_config(tmp_path, "kafka-python", **{**tls, "ssl_password": "wrong-password"})
    message = one_line_error(wrong, "kafka-python")
    assert message.startswith("kafka.ssl_certfile: kafka-python cannot load it (")
    assert "wrong-password" not in message
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    bad_ca = client_config(tmp_path, "kafka-python", **{**tls, "ssl_cafile": str(junk)})
    assert one_line_error(bad_ca, "kafka-python").startswith(
        "kafka.ssl_cafile: kafka-python cannot load it ("
    )
    crl = client_config(tmp_path, "kafka-python", **{**tls, "ssl_crlfile": str(junk)})
    assert one_line_error(crl, "kafka-python").startswith(
        "kafka.ssl_crlfile: kafka-python cannot load it ("
    )


def test_a_librdkafka_option_from_the_environment_takes_its_type(tmp_path, monkeypatch):
    monkeypatch.setenv("LINGER", "20")
    monkeypatch.setenv("IDEMPOTENT", "true")
    path = client_config(
        tmp_path, "confluent", **{"linger.ms": "${LINGER}", "enable_idempotence": "${IDEMPOTENT}"}
    )
    options = kit_of(create_container(path)).options
    assert (options["linger.ms"], options["enable.idempotence"]) == (20.0, True)


def test_a_client_that_is_no_name_is_refused(tmp_path):
    path = client_config(tmp_path, "kafka-python", client=5)
    assert one_line_error(path, "kafka-python") == (
        "kafka.client: must be one of kafka-python, confluent, confluent-aio, aiokafka (got 5)"
    )


def test_an_unknown_client_is_named_with_a_did_you_mean(tmp_path):
    path = client_config(tmp_path, "kafka-python", client="confluentt")
    assert one_line_error(path, "kafka-python") == (
        "kafka.client: unknown Kafka client 'confluentt' (known: kafka-python, confluent, "
        "confluent-aio, aiokafka); did you mean confluent?"
    )


@pytest.mark.parametrize(
    ("client", "container_class", "expected"),
    [
        ("aiokafka", Container, "kafka.client: aiokafka is an asyncio client: create_container"
         "(..., container_class=AsyncContainer)"),
        ("confluent", AsyncContainer, "kafka.client: confluent is a threaded client: "
         "create_container(..., container_class=Container)"),
    ],
)  # fmt: skip
def test_a_client_in_the_other_kind_of_container_is_refused(client, container_class, expected):
    path = shipped_config(client)
    with pytest.raises(ConfigError) as caught:
        create_container(path, container_class=container_class)
    assert str(caught.value) == f"{path}: {expected}"


def test_a_transactional_pool_must_block(tmp_path):
    data = yaml.safe_load(shipped_config("confluent-aio").read_text())
    data["kafka"]["transactional"] = True
    path = tmp_path / "transactions.yaml"
    path.write_text(yaml.safe_dump(data))
    assert one_line_error(path, "confluent-aio").startswith(
        "pool.on_exhausted: must be block for a transactional pool"
    )
    data["pool"]["on_exhausted"] = "block"
    path.write_text(yaml.safe_dump(data))
    kit = kit_of(create_container(path, container_class=AsyncContainer))
    assert kit.transactional
