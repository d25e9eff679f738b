"""The mock cluster itself: faults as methods, records read back, a clean skip where it cannot
run, and why kafka-python needs its first ApiVersions request capped there.

The mock runs in this process (librdkafka's thread), so these tests need no broker process.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time

import pytest
from confluent_kafka import Producer

from producer_pool import BrokerUnavailable
from producer_pool.testing import cluster as cluster_module
from producer_pool.testing.cluster import (
    PRODUCE,
    ClusterUnavailable,
    MockCluster,
    MockClusterError,
    Record,
)
from tests.fakes import in_forked_child, run_users_pytest

API_VERSIONS = 18
UNSUPPORTED_VERSION = 35


def produce(cluster: MockCluster, topic: str, partition: int, key: bytes) -> None:
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers})
    try:
        producer.produce(topic, key=key, value=b"v", partition=partition, headers=[("h", b"1")])
        assert producer.flush(30) == 0
    finally:
        producer.close()


def test_three_brokers_and_leaders_pinned_round_robin(kafka_cluster):
    assert kafka_cluster.brokers == (1, 2, 3)
    assert len(kafka_cluster.bootstrap_servers.split(",")) == 3
    topic = kafka_cluster.create_topic("orders", partitions=4)
    assert [kafka_cluster.leader(topic, p) for p in range(4)] == [1, 2, 3, 1]
    assert kafka_cluster.partitions_led_by(1) == [("orders", 0), ("orders", 3)]


def test_what_is_published_is_read_back_with_its_place_and_headers(kafka_cluster):
    topic = kafka_cluster.create_topic("orders")
    produce(kafka_cluster, topic, 2, b"k")
    assert kafka_cluster.read(topic) == [Record("orders", 2, 0, b"k", b"v", (("h", b"1"),))]


def test_a_broker_down_leaves_its_partitions_leaderless_until_it_is_back(kafka_cluster):
    topic = kafka_cluster.create_topic("orders")
    kafka_cluster.broker_down(2)
    assert [kafka_cluster.leader(topic, p) for p in range(3)] == [1, -1, 3]
    kafka_cluster.broker_up(2)
    assert kafka_cluster.leader(topic, 1) == 2
    produce(kafka_cluster, topic, 1, b"after")
    assert [r.key for r in kafka_cluster.read(topic)] == [b"after"]


def test_a_broker_failing_over_hands_its_partitions_to_the_next_broker_up(kafka_cluster):
    topic = kafka_cluster.create_topic("orders")
    kafka_cluster.broker_down(3)
    with kafka_cluster.broker_outage(1, fail_over=True):
        assert [kafka_cluster.leader(topic, p) for p in range(3)] == [2, 2, -1]
        produce(kafka_cluster, topic, 0, b"on the new leader")
    assert [kafka_cluster.leader(topic, p) for p in range(3)] == [1, 2, -1]
    with pytest.raises(MockClusterError, match="no broker is up to take over from broker 2"):
        kafka_cluster.broker_down(1)
        kafka_cluster.broker_down(2, fail_over=True)


def test_injected_produce_errors_are_met_by_the_next_requests(kafka_cluster):
    topic = kafka_cluster.create_topic("orders", partitions=1)
    kafka_cluster.track_requests()
    kafka_cluster.fail_produce(6, 7)  # retriable: the producer retries twice
    produce(kafka_cluster, topic, 0, b"retried")
    assert [broker for broker, _ in kafka_cluster.requests(PRODUCE)] == [1, 1, 1]
    assert [r.key for r in kafka_cluster.read(topic)] == [b"retried"]
    kafka_cluster.fail_produce(6, 6, 6)
    kafka_cluster.clear_failures()
    kafka_cluster.track_requests()
    produce(kafka_cluster, topic, 0, b"at once")
    assert len(kafka_cluster.requests(PRODUCE)) == 1


class TimedLibrary:
    """librdkafka, with the start and end of each mock call recorded."""

    def __init__(self, library: object) -> None:
        self.library = library
        self.calls: list[tuple[float, float]] = []

    def __getattr__(self, name: str) -> object:
        function = getattr(self.library, name)
        if not name.startswith("rd_kafka_mock_"):
            return function

        def timed(*arguments: object) -> object:
            started = time.monotonic()
            try:
                return function(*arguments)
            finally:
                self.calls.append((started, time.monotonic()))

        return timed


def test_mock_calls_are_spaced_so_the_mock_thread_misses_no_wakeup(kafka_cluster, monkeypatch):
    """The mock's thread can miss the wakeup of a command queued right after it answered
    the previous one, and serve it only at its next 1 s poll: 7 of 60 raw calls in a row
    stalled so, 0 of 60 with 0.5 ms between them. `MockCluster` keeps 1 ms between calls."""
    timed = TimedLibrary(kafka_cluster._lib)
    monkeypatch.setattr(kafka_cluster, "_lib", timed)
    topic = kafka_cluster.create_topic("orders")
    kafka_cluster.broker_down(1, fail_over=True)
    kafka_cluster.broker_up(1)
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(timed.calls)]
    assert len(gaps) == 7, timed.calls  # create, 3 leaders, down, its successor, up, back
    assert min(gaps) >= 0.001, gaps
    assert topic == "orders"


def test_a_bad_broker_or_topic_is_one_clear_error(kafka_cluster):
    with pytest.raises(MockClusterError, match="broker 9 down: "):
        kafka_cluster.broker_down(9)
    with pytest.raises(MockClusterError, match=r"nowhere\[0\] was not created here"):
        kafka_cluster.leader("nowhere", 0)


def test_a_closed_cluster_refuses_calls_and_closes_once():
    cluster = MockCluster(brokers=1)
    cluster.close()
    cluster.close()
    assert "closed" in repr(cluster)
    with pytest.raises(MockClusterError, match="closed"):
        cluster.broker_down(1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_is_refused_instead_of_hanging(kafka_cluster):
    """The mock's thread lives only in the parent: a mock call in a child hangs forever."""

    def in_child() -> str:
        try:
            kafka_cluster.broker_down(1)
        except MockClusterError as exc:
            return str(exc)
        return "called"

    assert in_forked_child(in_child) == "a mock cluster is driven only by the process that made it"


def test_without_confluent_kafka_the_fixture_skips_naming_the_extra(tmp_path):
    (tmp_path / "test_user.py").write_text(
        "import sys\nsys.modules['confluent_kafka'] = None\n\n"
        "def test_faults(kafka_cluster):\n    pass\n"
    )
    result = run_users_pytest(tmp_path, "-rs", "test_user.py")
    assert "1 skipped" in result.stdout, result.stdout
    assert "pip install 'producer-pool[confluent]'" in result.stdout


def test_a_missing_mock_function_is_named(monkeypatch):
    signatures = {**cluster_module._SIGNATURES, "rd_kafka_mock_from_the_future": (None, [])}
    monkeypatch.setattr(cluster_module, "_SIGNATURES", signatures)
    monkeypatch.setattr(cluster_module, "_library", None)
    missing = r"lacks the mock function\(s\) rd_kafka_mock_from_the_future"
    with pytest.raises(ClusterUnavailable, match=missing):
        MockCluster()


# ---------------------------------------------------------------- kafka-python and ApiVersions


def api_versions_body(address: str, version: int) -> bytes:
    """The body of the broker's answer to an ApiVersions request of `version` (3+)."""
    host, port = address.rsplit(":", 1)
    client = b"probe"
    # Request header v2: key, version, correlation id, client id, no tags; body v3+:
    # client software name and version as compact strings, no tags.
    header = struct.pack(">hhih", API_VERSIONS, version, 7, len(client)) + client + b"\0"
    body = bytes([len(client) + 1]) + client + bytes([2]) + b"1" + b"\0"
    request = header + body
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", _read(sock, 4))[0]
        answer = _read(sock, size)
    assert struct.unpack(">i", answer[:4])[0] == 7  # the correlation id; no header tags
    return answer[4:]


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "the broker closed the connection"
        data += chunk
    return data


def test_the_mock_answers_an_unsupported_api_versions_request_in_a_malformed_encoding(
    kafka_cluster,
):
    """KIP-511: a broker answers an ApiVersions version it does not serve with a v0 body
    (Apache Kafka's RequestContext.apiVersion()), which kafka-python decodes and retries
    from. The mock (versions 0 to 2) writes a one-byte raw array count plus v1's throttle
    time instead: kafka-python cannot decode it. The mock's bug, not kafka-python's."""
    from kafka.protocol.metadata.api_versions import ApiVersionsResponse

    body = api_versions_body(kafka_cluster.bootstrap_servers.split(",")[0], version=4)
    kip_511 = struct.pack(">hi", UNSUPPORTED_VERSION, 1) + struct.pack(">hhh", API_VERSIONS, 0, 2)
    assert body == struct.pack(">hb", UNSUPPORTED_VERSION, 1) + kip_511[6:] + b"\0\0\0\0", (
        "the mock's answer changed: if it now follows KIP-511, drop the ApiVersions cap"
    )
    answer = ApiVersionsResponse.decode(kip_511, version=4)
    assert answer.error_code == UNSUPPORTED_VERSION
    assert [(v.api_key, v.max_version) for v in answer.api_keys] == [(API_VERSIONS, 2)]
    with pytest.raises(Exception):  # noqa: B017 - whatever the decoder trips on
        ApiVersionsResponse.decode(body, version=4)


def test_kafka_python_bootstraps_on_the_mock_only_with_the_cap(kafka_cluster, monkeypatch):
    from producer_pool.clients.kafka_python import close_producer, kafka_producer_factory

    topic = kafka_cluster.create_topic("orders", partitions=1)
    settings = {"bootstrap_servers": kafka_cluster.bootstrap_servers, "bootstrap_timeout_ms": 2_000}
    producer = kafka_producer_factory(settings)()
    try:
        assert producer.send(topic, b"capped").get(30).offset == 0
    finally:
        close_producer(producer, 10)
    monkeypatch.setattr(cluster_module, "_mock_brokers", set())  # as if there were no cap
    with pytest.raises(BrokerUnavailable):
        kafka_producer_factory(settings)()
