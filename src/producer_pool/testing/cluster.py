"""`MockCluster`: a 3-broker Kafka cluster in this process, with faults as methods.

librdkafka, inside the confluent-kafka wheel, carries a mock Kafka cluster with fault
injection; it is reached here through ctypes. Any client speaks to it over TCP on 127.0.0.1:
confluent-kafka's `Producer` and `AIOProducer`, aiokafka, and kafka-python once its first
ApiVersions request is capped, which this module does for connections to mock brokers
(the mock's answer to a version it does not serve is malformed, where a real broker follows
KIP-511).

The mock API is experimental in librdkafka (no ABI promise): every function is looked up by
name, and a missing one (or a missing confluent-kafka) is `ClusterUnavailable`, which the
`kafka_cluster` fixture turns into a skip. What the mock does not emulate (measured, see
docs/testing.md): `read_committed` (aborted records are served), replication (a
broker set down keeps leading its partitions until `move_leader`), and de-duplication of
an idempotent producer's retries.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PoolError, missing_extra

__all__ = [
    "PRODUCE",
    "ClusterUnavailable",
    "MockCluster",
    "MockClusterError",
    "Record",
]

PRODUCE = 0
"""The Produce request's ApiKey, for `fail_requests`."""
_API_VERSIONS = 18
#: The highest ApiVersions version whose answers the mock encodes correctly (measured).
_MOCK_API_VERSIONS_MAX = 2
_ERRSTR_SIZE = 512
#: The least time between two mock calls (see `MockCluster._call`).
_COMMAND_GAP = 0.001


class ClusterUnavailable(PoolError):
    """The mock cluster cannot run here: confluent-kafka or one of librdkafka's mock
    functions is missing."""


class MockClusterError(PoolError):
    """A mock cluster call failed (an unknown broker or topic, or a forked child)."""


@dataclass(frozen=True)
class Record:
    """One record read back from the cluster."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


_P, _S, _I = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
_I16, _I32, _SIZE = ctypes.c_int16, ctypes.c_int32, ctypes.c_size_t

#: name -> (result type, argument types): the C signatures of rdkafka.h and rdkafka_mock.h.
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "rd_kafka_version_str": (_S, []),
    "rd_kafka_err2str": (_S, [_I]),
    "rd_kafka_conf_new": (_P, []),
    "rd_kafka_conf_set": (_I, [_P, _S, _S, _S, _SIZE]),
    "rd_kafka_conf_destroy": (None, [_P]),
    "rd_kafka_new": (_P, [_I, _P, _S, _SIZE]),
    "rd_kafka_destroy": (None, [_P]),
    "rd_kafka_mock_cluster_new": (_P, [_P, _I]),
    "rd_kafka_mock_cluster_destroy": (None, [_P]),
    "rd_kafka_mock_cluster_bootstraps": (_S, [_P]),
    "rd_kafka_mock_topic_create": (_I, [_P, _S, _I, _I]),
    "rd_kafka_mock_partition_set_leader": (_I, [_P, _S, _I32, _I32]),
    "rd_kafka_mock_broker_set_down": (_I, [_P, _I32]),
    "rd_kafka_mock_broker_set_up": (_I, [_P, _I32]),
    "rd_kafka_mock_broker_set_rtt": (_I, [_P, _I32, _I]),
    "rd_kafka_mock_push_request_errors_array": (None, [_P, _I16, _SIZE, ctypes.POINTER(_I)]),
    "rd_kafka_mock_clear_request_errors": (None, [_P, _I16]),
    "rd_kafka_mock_start_request_tracking": (None, [_P]),
    "rd_kafka_mock_clear_requests": (None, [_P]),
    "rd_kafka_mock_get_requests": (ctypes.POINTER(_P), [_P, ctypes.POINTER(_SIZE)]),
    "rd_kafka_mock_request_id": (_I32, [_P]),
    "rd_kafka_mock_request_api_key": (_I16, [_P]),
    "rd_kafka_mock_request_destroy_array": (None, [ctypes.POINTER(_P), _SIZE]),
}

_library: Any = None
_library_lock = threading.Lock()


def _find_librdkafka() -> str:
    """The librdkafka that confluent-kafka ships (its wheels bundle it), else the system's:
    the mock cluster is librdkafka's, hence the 'confluent' extra."""
    try:
        import confluent_kafka
    except ImportError as exc:
        raise ClusterUnavailable(missing_extra("the mock cluster", "confluent", exc)) from None
    package = Path(confluent_kafka.__file__).parent
    bundled = sorted(package.parent.glob("confluent_kafka.libs/librdkafka*.so*"))
    bundled += sorted(package.glob(".dylibs/librdkafka*.dylib"))
    found = str(bundled[0]) if bundled else ctypes.util.find_library("rdkafka")
    if not found:
        raise ClusterUnavailable("no librdkafka found beside confluent-kafka or on the system")
    return found


def _load() -> Any:
    """librdkafka with every function this module calls, typed; loaded once."""
    global _library
    with _library_lock:
        if _library is None:
            path = _find_librdkafka()
            try:
                library = ctypes.CDLL(path)
            except OSError as exc:
                raise ClusterUnavailable(f"cannot load {path}: {exc}") from None
            missing = [name for name in _SIGNATURES if not hasattr(library, name)]
            if missing:
                raise ClusterUnavailable(f"{path} lacks the mock function(s) {', '.join(missing)}")
            for name, (result, arguments) in _SIGNATURES.items():
                function = getattr(library, name)
                function.restype, function.argtypes = result, arguments
            _library = library
        return _library


class MockCluster:
    """librdkafka's mock cluster of `brokers` brokers (ids 1..n) on 127.0.0.1.

    Create it in the process that drives the faults: a forked child may publish to it (it
    is plain TCP) but cannot call its methods (the mock's thread lives in the parent).
    """

    def __init__(self, brokers: int = 3) -> None:
        if brokers < 1:
            raise ValueError("a cluster needs at least one broker")
        self._lib = _load()
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._calls = threading.Lock()  # one mock call at a time, spaced (see `_call`)
        self._last_call = 0.0
        self.brokers = tuple(range(1, brokers + 1))
        self._leaders: dict[tuple[str, int], int] = {}
        #: Each broker that is down -> the partitions it led when it went down.
        self._down: dict[int, list[tuple[str, int]]] = {}
        self._handle, self._cluster = self._create(brokers)
        self.bootstrap_servers: str = self._lib.rd_kafka_mock_cluster_bootstraps(
            self._cluster
        ).decode()
        _cap_kafka_python_api_versions()
        _mock_brokers.update(self.bootstrap_servers.split(","))

    def _create(self, brokers: int) -> tuple[int, int]:
        """The cluster, and the librdkafka handle that owns it (and its thread)."""
        lib, errstr = self._lib, ctypes.create_string_buffer(_ERRSTR_SIZE)
        conf = lib.rd_kafka_conf_new()
        # log_level 3: without it the owner logs "No bootstrap.servers configured".
        lib.rd_kafka_conf_set(conf, b"log_level", b"3", errstr, _ERRSTR_SIZE)
        handle = lib.rd_kafka_new(0, conf, errstr, _ERRSTR_SIZE)  # 0: a producer handle
        if not handle:
            lib.rd_kafka_conf_destroy(conf)  # rd_kafka_new owns it only on success
            raise MockClusterError(f"librdkafka: {errstr.value.decode()}")
        cluster = lib.rd_kafka_mock_cluster_new(handle, brokers)
        if not cluster:
            lib.rd_kafka_destroy(handle)
            raise MockClusterError(f"librdkafka could not create a {brokers}-broker mock cluster")
        return handle, cluster

    @property
    def version(self) -> str:
        """The librdkafka release whose mock this is."""
        return str(self._lib.rd_kafka_version_str().decode())

    # ------------------------------------------------------------------ topics

    def create_topic(self, name: str, partitions: int = 3, replication: int | None = None) -> str:
        """Create `name` (replication: every broker, by default) and pin partition p's
        leader to broker p % n + 1, so a test knows which broker leads what."""
        replication = len(self.brokers) if replication is None else replication
        self._do(f"creating topic {name}", "topic_create", name.encode(), partitions, replication)
        for partition in range(partitions):
            self.move_leader(name, partition, self.brokers[partition % len(self.brokers)])
        return name

    def leader(self, topic: str, partition: int) -> int:
        """The partition's leader now (-1: none, while its broker is down)."""
        try:
            return self._leaders[topic, partition]
        except KeyError:
            raise MockClusterError(f"{topic}[{partition}] was not created here") from None

    def partitions_led_by(self, broker: int) -> list[tuple[str, int]]:
        return sorted(place for place, leader in self._leaders.items() if leader == broker)

    # ------------------------------------------------------------------ faults

    def move_leader(self, topic: str, partition: int, broker: int) -> None:
        """Make `broker` the partition's leader (-1: none): clients are told NOT_LEADER and
        refresh their metadata."""
        doing = f"moving {topic}[{partition}] to broker {broker}"
        self._do(doing, "partition_set_leader", topic.encode(), partition, broker)
        with self._lock:
            self._leaders[topic, partition] = broker

    def broker_down(self, broker: int, *, fail_over: bool = False) -> None:
        """Stop `broker`: its connections close and new ones are refused.

        Its partitions then report what a real cluster reports: no leader (-1) until it is
        back, or with `fail_over` a new leader, the next broker that is up, as a controller
        electing an in-sync replica does. (The mock alone would keep naming the stopped broker
        as leader while leaving it out of the broker list, which no real broker answers and
        which kafka-python 3.0 never recovers from.)
        """
        self._do(f"broker {broker} down", "broker_set_down", broker)
        led = self.partitions_led_by(broker)
        with self._lock:
            self._down[broker] = led
        successor = self._next_up(broker) if fail_over else -1
        for topic, partition in led:
            self.move_leader(topic, partition, successor)

    def broker_up(self, broker: int) -> None:
        """Start `broker` again; it leads again the partitions it led when it went down."""
        self._do(f"broker {broker} up", "broker_set_up", broker)
        with self._lock:
            led = self._down.pop(broker, [])
        for topic, partition in led:
            self.move_leader(topic, partition, broker)

    def _next_up(self, broker: int) -> int:
        with self._lock:
            up = [b for b in self.brokers if b != broker and b not in self._down]
        if not up:
            raise MockClusterError(f"no broker is up to take over from broker {broker}")
        return min(up, key=lambda b: (b - broker) % len(self.brokers))

    @contextmanager
    def broker_outage(self, broker: int, *, fail_over: bool = False) -> Iterator[None]:
        """`with cluster.broker_outage(1):` the broker is down inside, up again after."""
        self.broker_down(broker, fail_over=fail_over)
        try:
            yield
        finally:
            self.broker_up(broker)

    def set_rtt(self, broker: int, milliseconds: int) -> None:
        """Delay every answer of `broker` by `milliseconds` (0 restores it)."""
        self._do(f"setting broker {broker}'s round trip", "broker_set_rtt", broker, milliseconds)

    def fail_requests(self, api_key: int, errors: Sequence[int]) -> None:
        """The next `len(errors)` requests of `api_key`, on any broker, fail with these
        Kafka error codes, in order (the mock appends nothing for a failed Produce)."""
        codes = (_I * len(errors))(*errors)
        self._call("push_request_errors_array", api_key, len(errors), codes)

    def fail_produce(self, *errors: int) -> None:
        """The next Produce requests fail with these codes: 6 (NOT_LEADER_OR_FOLLOWER) and
        7 (REQUEST_TIMED_OUT) are retriable, 10 (MESSAGE_TOO_LARGE) is not."""
        self.fail_requests(PRODUCE, errors)

    def clear_failures(self, api_key: int = PRODUCE) -> None:
        """Drop the errors still queued for `api_key`."""
        self._call("clear_request_errors", api_key)

    # ------------------------------------------------------------------ requests

    def track_requests(self) -> None:
        """Record every request from now on (and forget those recorded so far), for
        `requests`: proof that a fault was met, such as injected errors served."""
        self._call("start_request_tracking")
        self._call("clear_requests")

    def requests(self, api_key: int | None = None) -> list[tuple[int, int]]:
        """(broker id, ApiKey) of each request recorded since `track_requests`, in order;
        only those of `api_key` if given."""
        count = _SIZE(0)
        array = self._call("get_requests", ctypes.byref(count))
        try:
            seen = [
                (
                    int(self._lib.rd_kafka_mock_request_id(array[i])),
                    int(self._lib.rd_kafka_mock_request_api_key(array[i])),
                )
                for i in range(count.value)
            ]
        finally:
            if array:
                self._lib.rd_kafka_mock_request_destroy_array(array, count.value)
        return [request for request in seen if api_key is None or request[1] == api_key]

    # ------------------------------------------------------------------ reading

    def read(self, topic: str, *, timeout: float = 30.0) -> list[Record]:
        """Every record of `topic`, per partition in offset order, read with a librdkafka
        consumer from offset 0 to the high watermark (the mock's is exact)."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "group.id": "producer-pool-read",
                "enable.auto.commit": False,
                "log_level": 3,
            }
        )
        try:
            metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
            ends = {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1]
                for p in metadata.partitions
            }
            assigned = [TopicPartition(topic, p, 0) for p, end in ends.items() if end]
            consumer.assign(assigned)
            records: dict[tuple[int, int], Record] = {}
            deadline = time.monotonic() + timeout
            # Positions, not counts: transaction markers take offsets but are never served.
            while any(tp.offset < ends[tp.partition] for tp in consumer.position(assigned)):
                if time.monotonic() >= deadline:
                    raise MockClusterError(f"reading {topic} did not end within {timeout:g}s")
                for message in consumer.consume(1000, timeout=0.2):
                    partition, offset = message.partition(), message.offset()
                    if message.error() or partition is None or offset is None:
                        continue
                    if offset < ends[partition]:
                        records[partition, offset] = _record(message)
            return [records[place] for place in sorted(records)]
        finally:
            consumer.close()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Stop every broker (clients see disconnects). The cluster goes first: librdkafka
        aborts the process if its owning handle is destroyed before it."""
        if os.getpid() != self._pid:
            return  # a forked child: the cluster is its parent's
        with self._calls:
            cluster, handle, self._cluster, self._handle = self._cluster, self._handle, 0, 0
        if not cluster:
            return
        _mock_brokers.difference_update(self.bootstrap_servers.split(","))
        self._lib.rd_kafka_mock_cluster_destroy(cluster)
        self._lib.rd_kafka_destroy(handle)

    def __enter__(self) -> MockCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = self.bootstrap_servers if self._cluster else "closed"
        return f"MockCluster({len(self.brokers)} brokers, {state}, librdkafka {self.version})"

    def _call(self, function: str, *arguments: Any) -> Any:
        """Call the mock function `rd_kafka_mock_<function>` on this cluster.

        Calls are spaced by `_COMMAND_GAP`: the mock's thread can miss the wakeup of a
        command queued right after it answered the previous one, and then serves it only
        at its next 1 s poll (7 of 60 back-to-back calls measured so; 0 of 60 with 0.5 ms
        between them).
        """
        if os.getpid() != self._pid:
            # The mock's thread exists only in the parent: a call here would hang forever.
            raise MockClusterError("a mock cluster is driven only by the process that made it")
        with self._calls:
            if not self._cluster:
                raise MockClusterError("the mock cluster is closed")
            gap = _COMMAND_GAP - (time.monotonic() - self._last_call)
            if gap > 0:
                time.sleep(gap)
            try:
                return getattr(self._lib, f"rd_kafka_mock_{function}")(self._cluster, *arguments)
            finally:
                self._last_call = time.monotonic()

    def _do(self, doing: str, function: str, *arguments: Any) -> None:
        """`_call` a function that returns an error code; a failure is `MockClusterError`."""
        error = self._call(function, *arguments)
        if error:
            raise MockClusterError(f"{doing}: {self._lib.rd_kafka_err2str(error).decode()}")


def _record(message: Any) -> Record:
    headers = tuple((name, value) for name, value in message.headers() or ())
    return Record(
        message.topic(), message.partition(), message.offset(), message.key(), message.value(),
        headers,
    )  # fmt: skip


#: "host:port" of every live mock broker: kafka-python's first ApiVersions to them is capped.
_mock_brokers: set[str] = set()


def _cap_kafka_python_api_versions() -> None:
    """Make kafka-python open connections to mock brokers with ApiVersions v2, once per process.

    kafka-python starts at ApiVersions v4. A real broker that serves fewer versions answers
    in v0 (KIP-511: Apache Kafka's `RequestContext.apiVersion()`), which kafka-python decodes
    and retries from. The mock answers in a hybrid encoding (a one-byte raw array count plus
    v1's throttle time) that neither a v0 nor a flexible decoder can read, so the connection
    fails. Only connections whose peer is a mock broker are capped, and only that first
    request: every other API's versions are still negotiated from the mock's v2 answer.
    This touches kafka-python 3.0's private `KafkaConnection` (the `kafka` extra pins it).
    """
    try:
        from ..clients import _quiet_kafka  # noqa: F401 # isort: skip - first: kafka-python warns
        from kafka.net.connection import KafkaConnection
    except ImportError:
        return  # no kafka-python: nothing to cap
    negotiate = KafkaConnection._get_api_versions
    if getattr(negotiate, "capped_for_mock_brokers", False):
        return

    async def _get_api_versions(connection: Any, timeout_at: float | None = None) -> Any:
        transport = connection.transport
        peer = transport.host_port().split("<-")[0] if transport is not None else ""
        if connection.broker_version_data is None and peer in _mock_brokers:
            connection._api_versions_idx = min(connection._api_versions_idx, _MOCK_API_VERSIONS_MAX)
        return await negotiate(connection, timeout_at)

    _get_api_versions.capped_for_mock_brokers = True  # type: ignore[attr-defined]
    KafkaConnection._get_api_versions = _get_api_versions
