"""Each client's pool behind one small synchronous interface, so the fault suite runs the same
scenarios on all four: send a keyed message to a partition, wait for outcomes, close.

The asyncio clients run on a loop in a thread of their own; callers block on it.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from producer_pool import PoolCloseError, PoolStats
from producer_pool.clients import async_pool, kit_class, pool
from producer_pool.testing.cluster import PRODUCE, MockCluster
from tests.drivers import LoopThread

T = TypeVar("T")

#: How long a scenario waits for outcomes before it fails (never a hope: an upper bound).
SETTLE_TIMEOUT = 45.0


class Outcomes:
    """Every message's delivery result, as its own caller saw it (callback or future)."""

    def __init__(self) -> None:
        self.acked: Counter[bytes] = Counter()
        self.failed: Counter[bytes] = Counter()
        self.changed = threading.Condition()

    def record(self, key: bytes, error: object) -> None:
        with self.changed:
            (self.acked if error is None else self.failed)[key] += 1
            self.changed.notify_all()

    def settled(self, keys: Iterable[bytes]) -> bool:
        return all(key in self.acked or key in self.failed for key in keys)


class Publisher:
    """A pool of one client with its outcomes. Subclasses say how to build, send and close."""

    name = ""
    max_size = 2

    def __init__(self, servers: str, settings: dict[str, Any]) -> None:
        self.outcomes = Outcomes()
        self.in_flight_at_fault: set[bytes] = set()
        self.pool: Any = self._pool({"bootstrap_servers": servers, **settings})

    def _pool(self, settings: dict[str, Any]) -> Any:
        """The client's kit, by its name in the kit registry, in the pool it wires."""
        kit = kit_class(self.name)(settings)
        return (async_pool if kit.is_async else pool)(kit, max_size=self.max_size)

    def send(self, topic: str, partition: int, key: bytes) -> None:
        raise NotImplementedError

    def wait_until(self, condition: Callable[[], bool], timeout: float = SETTLE_TIMEOUT) -> None:
        """Block until `condition()` (checked whenever an outcome arrives) or fail."""
        with self.outcomes.changed:
            if not self.outcomes.changed.wait_for(condition, timeout):
                raise AssertionError(f"{self.name}: not settled within {timeout:g}s")

    def note_in_flight(self, keys: list[bytes]) -> None:
        """Note which of `keys` are still in flight as a broker goes down: the mock may have
        written them without answering, and their retries are then written again (it checks
        sequences only for transactional producers, where a broker de-duplicates every
        idempotent producer's retries)."""
        with self.outcomes.changed:
            self.in_flight_at_fault.update(k for k in keys if not self.outcomes.settled([k]))

    def settle(self, keys: list[bytes]) -> list[bytes]:
        """Wait until each of `keys` has an outcome; return them."""
        self.wait_until(lambda: self.outcomes.settled(keys))
        return keys

    def close(self) -> PoolCloseError | None:
        """Close the pool; the error it reports, if any."""
        try:
            self._close()
        except PoolCloseError as exc:
            return exc
        return None

    def _close(self) -> None:
        self.pool.close()

    def stats(self) -> PoolStats:
        return self.pool.stats()  # type: ignore[no-any-return]


class KafkaPythonPublisher(Publisher):
    name = "kafka-python"

    def send(self, topic: str, partition: int, key: bytes) -> None:
        with self.pool.acquire() as producer:
            future = producer.send(topic, key=key, value=b"x", partition=partition)
        future.add_callback(lambda _: self.outcomes.record(key, None))
        future.add_errback(lambda error: self.outcomes.record(key, error))


class ConfluentPublisher(Publisher):
    """librdkafka serves delivery callbacks only when polled: waiting polls the producer."""

    name = "confluent"
    max_size = 1  # waiting polls the one producer, serving all the callbacks

    def send(self, topic: str, partition: int, key: bytes) -> None:
        def delivered(error: object, message: Any) -> None:
            self.outcomes.record(key, error)

        with self.pool.acquire() as producer:
            producer.produce(topic, key=key, value=b"x", partition=partition, on_delivery=delivered)
            producer.poll(0)

    def wait_until(self, condition: Callable[[], bool], timeout: float = SETTLE_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                raise AssertionError(f"{self.name}: not settled within {timeout:g}s")
            with self.pool.acquire() as producer:
                producer.poll(0.05)  # serves the callbacks: the only way they arrive


class AsyncPublisher(Publisher):
    """An `AsyncProducerPool` driven from the test's thread through a loop thread."""

    def __init__(self, servers: str, settings: dict[str, Any]) -> None:
        self.loop = LoopThread()
        super().__init__(servers, settings)

    def send(self, topic: str, partition: int, key: bytes) -> None:
        self.loop.run(self._send_and_watch(topic, partition, key))

    async def _send_and_watch(self, topic: str, partition: int, key: bytes) -> None:
        delivery = await self._send(topic, partition, key)
        delivery.add_done_callback(functools.partial(self._delivered, key))

    def _delivered(self, key: bytes, delivery: asyncio.Future[Any]) -> None:
        self.outcomes.record(key, True if delivery.cancelled() else delivery.exception())

    async def _send(self, topic: str, partition: int, key: bytes) -> asyncio.Future[Any]:
        raise NotImplementedError

    def _close(self) -> None:
        try:
            self.loop.run(self.pool.close())
        finally:
            self.loop.stop()


class AIOProducerPublisher(AsyncPublisher):
    name = "confluent-aio"

    async def _send(self, topic: str, partition: int, key: bytes) -> asyncio.Future[Any]:
        async with self.pool.acquire() as producer:
            return await producer.produce(topic, key=key, value=b"x", partition=partition)  # type: ignore[no-any-return]


class AIOKafkaPublisher(AsyncPublisher):
    name = "aiokafka"

    async def _send(self, topic: str, partition: int, key: bytes) -> asyncio.Future[Any]:
        async with self.pool.acquire() as producer:
            return await producer.send(topic, key=key, value=b"x", partition=partition)  # type: ignore[no-any-return]


PUBLISHERS: dict[str, type[Publisher]] = {
    publisher.name: publisher
    for publisher in (
        KafkaPythonPublisher,
        ConfluentPublisher,
        AIOProducerPublisher,
        AIOKafkaPublisher,
    )
}


# ---------------------------------------------------------------------- scenarios

PARTITIONS = 3
METADATA = 3  # the Metadata request's ApiKey
INVALID_RECORD = 87  # a non-retriable Produce error
#: Every client idempotent, acks=all (their default with idempotence), batching a little.
SETTINGS = {"enable_idempotence": True, "linger_ms": 5}


@dataclass(frozen=True)
class Figures:
    """What a scenario proves, counted: the zero-loss promise is lost == 0 and every outcome
    counted once (`counted_*` equal to what callers saw)."""

    client: str
    scenario: str
    sent: int
    acked: int
    failed: int
    read_back: int
    lost: int
    duplicates: int
    #: Duplicates of messages that were not in flight when a broker went down: always 0.
    unexplained_duplicates: int
    #: Messages whose caller was told they failed, yet stored (a client's report, not ours).
    failed_but_stored: int
    counted_delivered: int
    counted_failed: int
    undelivered_at_close: int


def keys(prefix: str, count: int) -> list[bytes]:
    return [f"{prefix}-{i}".encode() for i in range(count)]


def partition_of(key: bytes) -> int:
    return int(key.rsplit(b"-", 1)[1]) % PARTITIONS


def publish(publisher: Publisher, topic: str, batch: list[bytes]) -> list[bytes]:
    for key in batch:
        publisher.send(topic, partition_of(key), key)
    return batch


def leader_moves(publisher: Publisher, cluster: MockCluster, topic: str) -> list[bytes]:
    """Every partition's leader moves to the next broker while messages are in flight."""
    sent = publish(publisher, topic, keys("before", 150))
    for partition in range(PARTITIONS):
        leader = cluster.leader(topic, partition)
        cluster.move_leader(topic, partition, leader % len(cluster.brokers) + 1)
    sent += publish(publisher, topic, keys("during", 150))
    publisher.settle(sent)
    return sent


def broker_down_and_back(publisher: Publisher, cluster: MockCluster, topic: str) -> list[bytes]:
    """The leader of partition 0 goes down and its partition has no leader: the other
    partitions are acknowledged while its messages wait, until the client has asked for
    metadata during the outage (it noticed); then the broker comes back and they are
    delivered."""
    sent = publisher.settle(publish(publisher, topic, keys("before", 60)))
    cluster.track_requests()
    with cluster.broker_outage(cluster.leader(topic, 0)):
        during = publish(publisher, topic, keys("during", 150))
        stuck = [key for key in during if partition_of(key) == 0]
        publisher.settle([key for key in during if key not in stuck])
        wait_for_request(cluster, METADATA)
        settled = [key for key in stuck if publisher.outcomes.settled([key])]
        assert settled == [], f"{publisher.name}: settled while their partition had no leader"
    return sent + publisher.settle(during)


def broker_fails_over(publisher: Publisher, cluster: MockCluster, topic: str) -> list[bytes]:
    """The leader of partition 0 goes down and the next broker takes over its partition, as
    a controller electing an in-sync replica does; later it comes back and leads again."""
    sent = publish(publisher, topic, keys("before", 150))
    publisher.note_in_flight(sent)
    with cluster.broker_outage(cluster.leader(topic, 0), fail_over=True):
        sent += publisher.settle(publish(publisher, topic, keys("during", 150)))
    return publisher.settle(sent)


def retriable_errors(publisher: Publisher, cluster: MockCluster, topic: str) -> list[bytes]:
    """Produce requests fail with retriable errors (NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT);
    the clients retry them."""
    sent = publisher.settle(publish(publisher, topic, keys("before", 30)))
    cluster.track_requests()
    errors = [6, 7, 6, 7, 6]
    cluster.fail_produce(*errors)
    for round_ in range(8):  # a round per request at least: more rounds than errors
        sent += publisher.settle(publish(publisher, topic, keys(f"during{round_}", 20)))
    served = len(cluster.requests(PRODUCE))
    assert served > len(errors), f"{served} Produce requests: the injected errors were not all met"
    return sent


def rejected_batch(publisher: Publisher, cluster: MockCluster, topic: str) -> list[bytes]:
    """One Produce request fails with a non-retriable error (INVALID_RECORD): its messages
    fail, and each failure reaches its caller and the pool's count once."""
    sent = publisher.settle(publish(publisher, topic, keys("before", 30)))
    cluster.fail_produce(INVALID_RECORD)
    for round_ in range(3):
        sent += publisher.settle(publish(publisher, topic, keys(f"during{round_}", 20)))
    assert publisher.outcomes.failed, f"{publisher.name}: the rejected batch did not fail"
    return sent


def wait_for_request(cluster: MockCluster, api_key: int, timeout: float = SETTLE_TIMEOUT) -> None:
    """Until the cluster has received a request of `api_key` since `track_requests()`."""
    deadline = time.monotonic() + timeout
    while not cluster.requests(api_key):
        if time.monotonic() >= deadline:
            raise AssertionError(f"no request {api_key} within {timeout:g}s")
        threading.Event().wait(0.02)  # bounded by the deadline: a poll of the mock


SCENARIOS: dict[str, Callable[[Publisher, MockCluster, str], list[bytes]]] = {
    scenario.__name__: scenario
    for scenario in (
        leader_moves,
        broker_down_and_back,
        broker_fails_over,
        retriable_errors,
        rejected_batch,
    )
}


def run_scenario(client: str, scenario: str, cluster: MockCluster) -> Figures:
    """Run `scenario` on a fresh topic, then heal-check (publishing works again after the
    fault), close the pool and read everything back."""
    topic = cluster.create_topic(f"{scenario}-{client}", partitions=PARTITIONS)
    publisher = PUBLISHERS[client](cluster.bootstrap_servers, SETTINGS)
    try:
        sent = SCENARIOS[scenario](publisher, cluster, topic)
        sent += publisher.settle(publish(publisher, topic, keys("healed", 60)))
    finally:
        closed = publisher.close()
    stored = Counter(record.key for record in cluster.read(topic))
    acked, failed = publisher.outcomes.acked, publisher.outcomes.failed
    stats = publisher.stats()
    return Figures(
        client=client,
        scenario=scenario,
        sent=len(sent),
        acked=sum(acked.values()),
        failed=sum(failed.values()),
        read_back=sum(stored.values()),
        lost=sum(1 for key in acked if not stored[key]),
        duplicates=sum(count - 1 for count in stored.values() if count > 1),
        unexplained_duplicates=sum(
            count - 1
            for key, count in stored.items()
            if count > 1 and key not in publisher.in_flight_at_fault
        ),
        failed_but_stored=sum(1 for key in failed if stored[key]),
        counted_delivered=stats.delivered,
        counted_failed=stats.delivery_errors,
        undelivered_at_close=closed.undelivered if closed is not None else 0,
    )
