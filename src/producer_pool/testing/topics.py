"""Topic helpers for tests, the demo and benchmarks: create a topic, read one back exactly.

Not for services: `read_topic` appends a fence record to every partition per call.
"""

from __future__ import annotations

import time
from typing import Any

from ..clients import _quiet_kafka  # noqa: F401 # isort: skip - first: kafka-python warns
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka import errors as kafka_errors
from kafka.admin import NewTopic

from ..clients.kafka_python import (
    DEFAULT_BOOTSTRAP_TIMEOUT_MS,
    KafkaProducerFactory,
    close_producer,
)
from ..errors import BrokerUnavailable, PoolError

__all__ = ["create_topic", "read_topic"]


def create_topic(bootstrap_servers: str, name: str, partitions: int = 1) -> None:
    """Create a topic (tests and the demo); an existing one is left as it is.

    A cluster that does not answer is `BrokerUnavailable`, naming the servers.
    """
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers, bootstrap_timeout_ms=DEFAULT_BOOTSTRAP_TIMEOUT_MS
        )
    except (kafka_errors.KafkaTimeoutError, kafka_errors.KafkaConnectionError) as exc:
        waited = f"{DEFAULT_BOOTSTRAP_TIMEOUT_MS} ms"
        raise BrokerUnavailable.within(bootstrap_servers, waited, exc) from None
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    except kafka_errors.TopicAlreadyExistsError:
        pass
    except kafka_errors.KafkaTimeoutError as exc:
        raise BrokerUnavailable(f"creating topic {name} at {bootstrap_servers}: {exc}") from None
    finally:
        admin.close()


#: Key of the records `read_topic` appends; it leaves them out of what it returns.
_READ_FENCE_KEY = b"producer-pool.read-fence"


def read_topic(
    bootstrap_servers: str,
    topic: str,
    *,
    isolation_level: str = "read_uncommitted",
    timeout: float = 30.0,
) -> list[Any]:
    """Every record in `topic` up to a fence record this call appends to each partition.

    The fence gives an exact end: every record acknowledged before the call sits below it.
    It also works around tansu 0.6.0, whose memory storage can keep serving a stale high
    watermark after concurrent produces, hiding the last batches until the partition's next
    write (docs/design.md, "Reading a topic back"). Fence records are left out of the result,
    including those of earlier calls. Reading starts at offset 0, not at the offset tansu
    answers for "earliest", which can be a later batch's. Records come in log order, each
    once: should the client reset its position (kafka-python does when it suspects
    truncation), it restarts from the beginning, never from the end. Raises `PoolError` if a
    fence is not read within `timeout`.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation_level,
        fetch_max_wait_ms=50,
        bootstrap_timeout_ms=DEFAULT_BOOTSTRAP_TIMEOUT_MS,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        fences = _append_fences(bootstrap_servers, partitions, timeout)
        consumer.assign(partitions)
        for tp in partitions:  # not seek_to_beginning: tansu 0.6 can answer "earliest" late
            consumer.seek(tp, 0)
        records: dict[tuple[int, int], Any] = {}
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) <= fences[tp] for tp in partitions):
            if time.monotonic() >= deadline:
                raise PoolError(f"reading {topic} did not reach its fence within {timeout:g}s")
            for tp, batch in consumer.poll(timeout_ms=200).items():
                records.update(((r.partition, r.offset), r) for r in batch if r.offset < fences[tp])
        in_log_order = (records[place] for place in sorted(records))
        return [r for r in in_log_order if not (r.key or b"").startswith(_READ_FENCE_KEY)]
    finally:
        consumer.close()


def _append_fences(
    bootstrap_servers: str, partitions: list[TopicPartition], timeout: float
) -> dict[TopicPartition, int]:
    """Append one fence record to each partition; return each fence's offset."""
    producer = KafkaProducerFactory({"bootstrap_servers": bootstrap_servers})()
    try:
        sent = {
            tp: producer.send(tp.topic, key=_READ_FENCE_KEY, value=b"", partition=tp.partition)
            for tp in partitions
        }
        return {tp: future.get(timeout).offset for tp, future in sent.items()}
    finally:
        close_producer(producer, timeout)
