"""Kafka-side benchmarks on the embedded broker: strategies, transactions, processes, clients.

Every run publishes to a fresh topic and reads it back, so a figure never counts a message
that did not arrive.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from kafka import KafkaProducer

from benchmarks.rounds import alternate, fold
from benchmarks.threads import run_concurrently
from producer_pool import PoolCloseError, ProducerPool
from producer_pool.clients.confluent import confluent_pool
from producer_pool.clients.kafka_python import kafka_pool, transaction
from producer_pool.testing.broker import EmbeddedBroker, free_port
from producer_pool.testing.relay import LatencyRelay
from producer_pool.testing.topics import create_topic, read_topic

VALUE = b"v" * 200
THREADS = 8
SETTINGS = {"linger_ms": 5}
#: Generous: a loaded CI machine (tests beside the benchmarks) reads back slowly.
READ_BACK_TIMEOUT = 60.0
CHILD_TIMEOUT = 120.0  # a forked worker that takes longer is stuck: killed, and it shows
#: confluent-kafka sends this many times kafka-python's messages, so both runs last a while.
CONFLUENT_FACTOR = 4


def fresh_topic(servers: str) -> str:
    topic = f"bench-{uuid.uuid4().hex[:10]}"
    create_topic(servers, topic)
    return topic


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def publish_threads(
    send: Callable[[int, int], Any], threads: int, per_thread: int
) -> tuple[float, list[float], list[Any]]:
    """Run `send(thread, n)` from threads behind a barrier; seconds, call latencies, futures."""
    latencies: list[float] = []
    futures: list[Any] = []
    lock = threading.Lock()

    def worker(number: int) -> None:
        mine_lat, mine_fut = [], []
        for n in range(per_thread):
            began = time.perf_counter()
            mine_fut.append(send(number, n))
            mine_lat.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine_lat)
            futures.extend(mine_fut)

    return run_concurrently(worker, threads), latencies, futures


def _strategy(servers: str, name: str, per_thread: int) -> dict[str, Any]:
    topic = fresh_topic(servers)
    settings = {"bootstrap_servers": servers, **SETTINGS}
    cleanup: Callable[[], None]
    if name == "producer per message":

        def send(thread: int, n: int) -> Any:
            producer = KafkaProducer(**settings)
            future = producer.send(topic, key=f"{thread}-{n}".encode(), value=VALUE)
            producer.close()
            return future

        cleanup = lambda: None  # noqa: E731
    elif name == "one shared producer":
        shared = KafkaProducer(**settings)

        def send(thread: int, n: int) -> Any:
            return shared.send(topic, key=f"{thread}-{n}".encode(), value=VALUE)

        cleanup = shared.close
    elif name == "producer per thread":
        local = threading.local()
        made: list[KafkaProducer] = []

        def send(thread: int, n: int) -> Any:
            if not hasattr(local, "producer"):
                local.producer = KafkaProducer(**settings)
                made.append(local.producer)
            return local.producer.send(topic, key=f"{thread}-{n}".encode(), value=VALUE)

        def cleanup() -> None:
            for producer in made:
                producer.close()

    else:
        size = int(name.split()[-1])
        mode = "share" if name.startswith("share") else "block"
        pool = kafka_pool(settings, max_size=size, min_size=size, on_exhausted=mode)
        pool.wait()  # every producer exists before timing: runs compare steady states

        def send(thread: int, n: int) -> Any:
            with pool.acquire() as producer:
                return producer.send(topic, key=f"{thread}-{n}".encode(), value=VALUE)

        cleanup = pool.close
    seconds, latencies, futures = publish_threads(send, THREADS, per_thread)
    cleanup()  # flushed: every future is resolved
    read_back = len(read_topic(servers, topic, timeout=READ_BACK_TIMEOUT))
    return {
        "msg_s": len(futures) / seconds,
        "p50_us": percentile(latencies, 0.5) * 1e6,
        "p99_us": percentile(latencies, 0.99) * 1e6,
        "sent": len(futures),
        "acknowledged": sum(f.succeeded() for f in futures),
        "read_back": read_back,
    }


def close_and_count(pool: ProducerPool[Any]) -> dict[str, int]:
    """Close (flush) the pool; what its producers' own delivery results acknowledged.

    Read-backs are judged against this, never against what was merely sent, and never
    from a consumer that ran during the writes (tansu can skip a batch for one).
    """
    with suppress(PoolCloseError):  # failures are counted below
        pool.close()
    stats = pool.stats()
    return {"acknowledged": stats.delivered, "failed": stats.delivery_errors}


STRATEGIES = (
    "producer per message",
    "one shared producer",
    "pool of 1",
    "pool of 2",
    "pool of 4",
    "pool of 8",
    "share mode, max 1",
    "share mode, max 2",
    "producer per thread",
)


#: What a run counts (added up over the rounds); everything else it returns is a figure.
COUNTS = ("sent", "acknowledged", "failed", "read_back")


def strategies(
    servers: str,
    per_thread: int,
    rounds: int,
    progress: Callable[[], None],
    names: tuple[str, ...] = STRATEGIES,
) -> dict[str, Any]:
    """Each strategy in `names`, taking turns for `rounds` rounds."""

    def contender(name: str) -> Callable[[], dict[str, Any]]:
        count = max(2, per_thread // 200) if name == "producer per message" else per_thread
        return lambda: _strategy(servers, name, count)

    runs = alternate({name: contender(name) for name in names}, rounds, progress)
    return {name: fold(results, COUNTS) for name, results in runs.items()}


@contextmanager
def relayed_broker(one_way_delay: float) -> Iterator[str]:
    """A broker behind a relay that adds `one_way_delay` each way; yields its servers."""
    relay_port = free_port()
    with EmbeddedBroker(advertised_port=relay_port) as broker:
        if broker.external:
            raise RuntimeError("the latency benchmark needs the embedded broker")
        with LatencyRelay(broker.port, one_way_delay=one_way_delay, port=relay_port):
            yield broker.bootstrap_servers


def transactions(
    rtt: float,
    per_thread: int,
    sizes: tuple[int, ...],
    rounds: int,
    progress: Callable[[], None],
) -> dict[str, Any]:
    """tx/s of 10-message transactions from 8 threads through transactional pools, the
    sizes taking turns for `rounds` rounds."""

    def contender(servers: str, size: int) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            topic = fresh_topic(servers)
            pool = kafka_pool(
                {"bootstrap_servers": servers}, transactional=True, max_size=size, min_size=size
            )
            pool.wait()
            seconds, latencies, _ = publish_threads(_one_tx(pool, topic), THREADS, per_thread)
            return {
                "tx_s": THREADS * per_thread / seconds,
                "p50_ms": percentile(latencies, 0.5) * 1000,
                **close_and_count(pool),
                "read_back": len(read_topic(servers, topic, timeout=READ_BACK_TIMEOUT)),
                "sent": THREADS * per_thread * 10,
            }

        return run

    with relayed_broker(rtt / 2) as servers:
        runs = alternate(
            {f"pool of {size}": contender(servers, size) for size in sizes}, rounds, progress
        )
    return {"rtt_ms": rtt * 1000} | {name: fold(r, COUNTS) for name, r in runs.items()}


def _one_tx(pool: ProducerPool[Any], topic: str) -> Callable[[int, int], None]:
    def one_tx(thread: int, n: int) -> None:
        with transaction(pool) as producer:
            for i in range(10):
                producer.send(topic, key=f"{thread}-{n}-{i}".encode(), value=VALUE)

    return one_tx


def _forked_worker(pool: ProducerPool[Any], topic: str, worker: int, count: int) -> None:
    def send(thread: int, n: int) -> Any:
        with pool.acquire() as producer:
            return producer.send(topic, key=f"{worker}-{thread}-{n}".encode(), value=VALUE)

    publish_threads(send, 4, count // 4)
    pool.close()


def processes(
    servers: str, messages: int, rounds: int, progress: Callable[[], None]
) -> dict[str, Any]:
    """The same run from 1 and 2 processes forked after the pool was created (as gunicorn),
    taking turns for `rounds` rounds."""
    fork = multiprocessing.get_context("fork")

    def contender(workers: int) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            topic = fresh_topic(servers)
            pool = kafka_pool({"bootstrap_servers": servers, **SETTINGS}, max_size=2, min_size=1)
            pool.wait()  # the parent has a live producer when it forks
            began = time.perf_counter()
            children = [
                fork.Process(target=_forked_worker, args=(pool, topic, w, messages // workers))
                for w in range(workers)
            ]
            for child in children:
                child.start()
            for child in children:
                child.join(CHILD_TIMEOUT)  # a stuck child is reported by its exit code
                if child.is_alive():
                    child.kill()
                    child.join()
            seconds = time.perf_counter() - began
            pool.close()
            read_back = len(read_topic(servers, topic, timeout=READ_BACK_TIMEOUT))
            return {
                "msg_s": read_back / seconds,
                "read_back": read_back,
                "sent": messages // workers * workers,
                "exit_codes": [c.exitcode for c in children],
            }

        return run

    runs = alternate({"1 process": contender(1), "2 processes": contender(2)}, rounds, progress)
    return {name: fold(r, COUNTS) for name, r in runs.items()}


def _kafka_send(pool: ProducerPool[Any], topic: str, batch: int) -> Callable[[int, int], Any]:
    def send(thread: int, n: int) -> Any:
        with pool.acquire() as producer:
            for i in range(batch):
                producer.send(topic, key=f"{thread}-{n}-{i}".encode(), value=VALUE)

    return send


def _confluent_send(pool: ProducerPool[Any], topic: str, batch: int) -> Callable[[int, int], Any]:
    def send(thread: int, n: int) -> Any:
        with pool.acquire() as producer:
            for i in range(batch):
                while True:
                    try:
                        producer.produce(topic, key=f"{thread}-{n}-{i}".encode(), value=VALUE)
                        break
                    except BufferError:  # local queue full: serve callbacks, then retry
                        producer.poll(0.05)
            producer.poll(0)

    return send


def clients(
    servers: str, per_thread: int, rounds: int, progress: Callable[[], None]
) -> dict[str, Any]:
    """kafka-python against confluent-kafka (librdkafka) through the same pool of 4, taking
    turns for `rounds` rounds.

    With one message per lease and with 100 per lease (`publish_many`): the first measures
    the per-call cost, the second the clients themselves.
    """

    def contender(name: str, batch: int) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            topic = fresh_topic(servers)
            settings = {"bootstrap_servers": servers, **SETTINGS}
            if name == "kafka-python":
                pool: ProducerPool[Any] = kafka_pool(settings, max_size=4, min_size=4)
                send = _kafka_send(pool, topic, batch)
                count = per_thread
            else:
                pool = confluent_pool(settings, max_size=4, min_size=4)
                send = _confluent_send(pool, topic, batch)
                count = per_thread * CONFLUENT_FACTOR
            leases = max(1, count // batch)
            pool.wait()
            began = time.perf_counter()
            publish_threads(send, THREADS, leases)
            counts = close_and_count(pool)  # the flush is part of the cost
            seconds = time.perf_counter() - began
            read_back = len(read_topic(servers, topic, timeout=READ_BACK_TIMEOUT))
            return {
                "msg_s": read_back / seconds,
                **counts,
                "read_back": read_back,
                "sent": THREADS * leases * batch,
            }

        return run

    runs = alternate(
        {
            f"{name}, {batch} per lease": contender(name, batch)
            for batch in (1, 100)
            for name in ("kafka-python", "confluent-kafka")
        },
        rounds,
        progress,
    )
    return {name: fold(r, COUNTS) for name, r in runs.items()}
