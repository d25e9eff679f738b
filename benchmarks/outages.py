"""Outage figures for the zero-loss promise: `python -m benchmarks.outages`.

Each scenario runs against the embedded broker behind a relay that is cut and resumed:
close() with the broker gone, a producer retired during an outage, transactions after a
fence. Prints one line per figure.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from kafka import KafkaProducer
from kafka.errors import KafkaError

from benchmarks import cluster_faults
from producer_pool import PoolCloseError
from producer_pool.clients.kafka_python import kafka_pool, transaction
from producer_pool.core import clock as _clock
from producer_pool.testing.broker import EmbeddedBroker, free_port
from producer_pool.testing.relay import LatencyRelay
from producer_pool.testing.topics import create_topic, read_topic

TOPIC = "outage"


@contextlib.contextmanager
def relayed() -> Iterator[tuple[str, LatencyRelay]]:
    relay_port = free_port()
    with (
        EmbeddedBroker(advertised_port=relay_port) as broker,
        LatencyRelay(broker.port, port=relay_port) as relay,
    ):
        create_topic(broker.bootstrap_servers, TOPIC)
        yield broker.bootstrap_servers, relay


def close_with_the_broker_gone() -> str:
    with relayed() as (servers, relay):
        pool = kafka_pool({"bootstrap_servers": servers, "linger_ms": 60_000}, max_size=4)
        leases = [pool.acquire() for _ in range(4)]
        producers = [lease.__enter__() for lease in leases]
        for producer in producers:
            producer.send(TOPIC, b"warm-up")
            producer.flush(10)
        relay.cut()
        for producer in producers:
            for i in range(25):
                producer.send(TOPIC, f"{i}".encode())
        for lease in leases:
            lease.__exit__(None, None, None)
        began = time.monotonic()
        undelivered = 0
        try:
            pool.close(timeout=5)
        except PoolCloseError as exc:
            undelivered = exc.undelivered
        return (
            f"close(timeout=5), 4 producers, broker gone: {time.monotonic() - began:.1f} s, "
            f"{undelivered} of 100 reported undelivered"
        )


def retirement_during_an_outage(outage: float = 6.0) -> str:
    clock = _clock.monotonic
    offset = [0.0]
    _clock.monotonic = lambda: clock() + offset[0]  # jump the pool's clock past max_lifetime
    try:
        with relayed() as (servers, relay):
            pool = kafka_pool({"bootstrap_servers": servers}, max_size=1, max_lifetime=2)
            with pool.acquire() as producer:
                producer.send(TOPIC, b"warm-up").get(10)
            relay.cut()
            cut_at = time.monotonic()
            with pool.acquire() as producer:
                futures = [producer.send(TOPIC, f"kept-{i}".encode()) for i in range(100)]
                offset[0] = 3.0  # its lifetime ends while leased: retired on return
            left_block = time.monotonic() - cut_at
            threading.Event().wait(max(0.0, outage - (time.monotonic() - cut_at)))  # the outage
            relay.resume()
            for future in futures:
                with contextlib.suppress(KafkaError):
                    future.get(60)
            with contextlib.suppress(PoolCloseError):
                pool.close(timeout=30)
            stored = {r.value for r in read_topic(servers, TOPIC)}
            delivered = sum(f"kept-{i}".encode() in stored for i in range(100))
            return (
                f"retired during a {outage:g} s outage: {delivered}/100 delivered after the "
                f"broker came back; leaving the block took {left_block * 1000:.0f} ms"
            )
    finally:
        _clock.monotonic = clock


def transactions_after_a_fence(rounds: int = 10) -> str:
    succeeded = 0
    with relayed() as (servers, _relay):
        pool = kafka_pool(
            {"bootstrap_servers": servers},
            transactional=True,
            transactional_id_prefix="fence-figures",
            max_size=1,
        )
        for n in range(rounds):
            with transaction(pool) as producer:
                producer.send(TOPIC, b"before")
            zombie_killer = KafkaProducer(
                bootstrap_servers=servers, transactional_id="fence-figures-0"
            )
            zombie_killer.init_transactions()
            zombie_killer.close()
            with contextlib.suppress(KafkaError), transaction(pool) as producer:
                producer.send(TOPIC, b"fenced").get(10)
            try:
                with transaction(pool) as producer:
                    producer.send(TOPIC, f"after-{n}".encode())
                succeeded += 1
            except KafkaError:
                pass
        with contextlib.suppress(PoolCloseError):  # the fenced messages are reported
            pool.close()
    return f"transactions right after a fence: {succeeded}/{rounds} succeeded"


def main() -> None:
    for scenario in (close_with_the_broker_gone, retirement_during_an_outage,
                     transactions_after_a_fence):  # fmt: skip
        print(scenario(), flush=True)
    print(cluster_faults.report(), flush=True)


if __name__ == "__main__":
    main()
