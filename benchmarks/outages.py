"""Outage figures for the zero-loss promise, per client kit: `python -m benchmarks.outages`
(`make outages`; `--kits confluent,aiokafka` for some).

Each scenario runs against the embedded broker behind a relay that is cut and resumed, with
the fault suite's drivers (`tests/integration/kits.py`): every message is sent with the
sender's own delivery callback, and each figure compares what close() reported with what
those callbacks saw. One line per kit and figure:

- close with the broker gone: 4 producers, 25 messages each, `close(timeout=5)`;
- a producer retired (max_lifetime) in an outage, then `close(timeout=3)`;
- a producer retired in a 6 s outage, the broker back: how many of 100 arrive;
- transactions right after a fence (10 rounds); a commit in an outage (bounded by the
  transaction timeout, 3 s);

then the 3-broker cluster's figures (`benchmarks.cluster_faults`).
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from benchmarks import cluster_faults
from producer_pool.core import clock as _clock
from producer_pool.testing.broker import EmbeddedBroker, free_port
from producer_pool.testing.relay import LatencyRelay
from producer_pool.testing.topics import create_topic, read_topic
from tests.integration.kits import DRIVERS, Delivery, Driver, Portal

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


@contextlib.contextmanager
def driven(name: str) -> Iterator[Driver]:
    cls = DRIVERS[name]
    driver = cls(name, Portal() if cls.is_async else None)
    try:
        yield driver
    finally:
        driver.dispose()


@contextlib.contextmanager
def jumpable_clock() -> Iterator[Callable[[float], None]]:
    """The pools' clock, which `jump(seconds)` moves forward (a lifetime ends at once)."""
    real = _clock.monotonic
    offset = [0.0]
    _clock.monotonic = lambda: real() + offset[0]
    try:
        yield lambda seconds: offset.__setitem__(0, offset[0] + seconds)
    finally:
        _clock.monotonic = real


def failed(deliveries: list[Delivery]) -> int:
    return sum(d.outcome == "failed" for d in deliveries)


def warm_up(driver: Driver, pool: object) -> None:
    with driver.lease(pool) as producer:
        driver.settle([driver.send(producer, TOPIC, "warm-up")])


def closed_within(
    driver: Driver, pool: object, timeout: float, lost: list[Delivery], staging: str
) -> str:
    """Close `pool` within `timeout`: how long it took, and what it reported of `lost`."""
    began = time.monotonic()
    closed = driver.close(pool, timeout)
    took = time.monotonic() - began
    driver.settle(lost, timeout=10)
    reported = closed.undelivered if closed else 0
    return (
        f"{staging}, then close(timeout={timeout:g}): {took:.1f} s, {reported} of {len(lost)} "
        f"reported undelivered, {failed(lost)} failed to their senders"
    )


def close_with_the_broker_gone(name: str) -> str:
    with relayed() as (servers, relay), driven(name) as driver:
        pool = driver.pool(servers, delivery_timeout_ms=60_000, max_size=4)
        with contextlib.ExitStack() as leases:
            producers = [leases.enter_context(driver.lease(pool)) for _ in range(4)]
            for producer in producers:
                driver.settle([driver.send(producer, TOPIC, "warm-up")])
            relay.cut()
            lost = [driver.send(p, TOPIC, f"{i}") for p in producers for i in range(25)]
        return closed_within(driver, pool, 5, lost, "4 producers, broker gone")


def retired_in_an_outage_then_closed(name: str) -> str:
    with jumpable_clock() as jump, relayed() as (servers, relay), driven(name) as driver:
        pool = driver.pool(servers, delivery_timeout_ms=60_000, max_size=1, max_lifetime=60)
        warm_up(driver, pool)
        relay.cut()
        with driver.lease(pool) as producer:
            lost = [driver.send(producer, TOPIC, f"lost-{i}") for i in range(20)]
            jump(60 * 1.1 + 1)  # its lifetime ends while leased: retired on return
        return closed_within(driver, pool, 3, lost, "retired in an outage")


def retired_during_an_outage(name: str, outage: float = 6.0) -> str:
    with jumpable_clock() as jump, relayed() as (servers, relay), driven(name) as driver:
        pool = driver.pool(servers, delivery_timeout_ms=60_000, max_size=1, max_lifetime=60)
        warm_up(driver, pool)
        relay.cut()
        cut_at = time.monotonic()
        with driver.lease(pool) as producer:
            kept = [driver.send(producer, TOPIC, f"kept-{i}") for i in range(100)]
            jump(60 * 1.1 + 1)
        left_block = time.monotonic() - cut_at
        threading.Event().wait(max(0.0, outage - (time.monotonic() - cut_at)))  # the outage
        relay.resume()
        driver.settle(kept, timeout=60)
        driver.close(pool, 30)
        stored = {r.key for r in read_topic(servers, TOPIC)}
        delivered = sum(d.key in stored for d in kept)
        return (
            f"retired during a {outage:g} s outage: {delivered}/100 delivered after the "
            f"broker came back; leaving the block took {left_block * 1000:.0f} ms"
        )


def transactions_after_a_fence(name: str, rounds: int = 10) -> str:
    with relayed() as (servers, _relay), driven(name) as driver:
        if not driver.transactions_on_tansu:
            return "transactions: not on the embedded broker (tansu refuses its InitProducerId)"
        prefix = f"fence-figures-{name}"
        pool = driver.pool(servers, transactional=True, prefix=prefix, max_size=1)
        succeeded = 0
        for n in range(rounds):
            with driver.transaction(pool) as producer:
                driver.send(producer, TOPIC, "before")
            driver.fence(servers, f"{prefix}-0")
            with contextlib.suppress(Exception), driver.transaction(pool) as producer:
                driver.settle([driver.send(producer, TOPIC, "fenced")])
            try:
                with driver.transaction(pool) as producer:
                    driver.send(producer, TOPIC, f"after-{n}")
                succeeded += 1
            except Exception:
                pass
        return f"transactions right after a fence: {succeeded}/{rounds} succeeded"


def commit_in_an_outage(name: str) -> str:
    with relayed() as (servers, relay), driven(name) as driver:
        if not driver.transactions_on_tansu:
            return "commit in an outage: not on the embedded broker"
        pool = driver.pool(servers, transactional=True, prefix=f"commit-{name}", max_size=1)
        with driver.transaction(pool) as producer:
            driver.send(producer, TOPIC, "first")
        relay.cut()
        began = time.monotonic()
        outcome = "committed"
        try:
            with driver.transaction(pool) as producer:
                driver.send(producer, TOPIC, "lost")
        except Exception as exc:
            outcome = type(exc).__name__
        took = time.monotonic() - began
        in_use = driver.stats(pool).in_use
        return (
            f"commit in an outage (transaction timeout 3 s): {outcome} after {took:.1f} s, "
            f"{in_use} lease(s) still out"
        )


SCENARIOS = (
    close_with_the_broker_gone,
    retired_in_an_outage_then_closed,
    retired_during_an_outage,
    transactions_after_a_fence,
    commit_in_an_outage,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kits", default=",".join(DRIVERS), help="comma-separated kit names")
    names = parser.parse_args().kits.split(",")
    for name in names:
        for scenario in SCENARIOS:
            print(f"{name:>13}: {scenario(name)}", flush=True)
    print(cluster_faults.report(), flush=True)


if __name__ == "__main__":
    main()
