"""The fault suite: every zero-loss and bounded-wait promise, written once and run against
every client kit (kafka-python, confluent, confluent-aio, aiokafka), through the relay
in front of the embedded broker. Every message is sent with the sender's own delivery
callback, and what close() reports must equal what those callbacks saw fail.
"""

from __future__ import annotations

import time

import pytest

from producer_pool import BrokerUnavailable, TransactionTimeout
from producer_pool.testing.broker import free_port
from producer_pool.testing.topics import read_topic
from tests.fakes import wait_until
from tests.integration.kits import (
    assert_aborted_closed_by_markers,
    assert_outage_accounted,
    needs_transactions,
    timed,
)

#: The outage tests' close budget, and the hang detector on it: the lost messages' delivery
#: timeout is 60 s, so a close that ignored its deadline would take 60 s or forever, and
#: only close's deadline can have failed them within CLOSE_TIMEOUT + CLOSE_HANG; a margin
#: that large, not a timing, so a loaded machine cannot break it. The same margin detects a
#: commit in an outage that hangs (kafka-python's blocked forever).
CLOSE_TIMEOUT = 3.0
CLOSE_HANG = 30.0
#: The drivers' transaction timeout (`transaction_timeout_ms`, `transaction.timeout.ms`).
TRANSACTION_TIMEOUT = 3.0


def warm_up_then_cut(driver, pool, relayed_broker) -> list:
    """One acknowledged message (so the producer knows the topic), then the outage."""
    with driver.lease(pool) as producer:
        warm_up = [driver.send(producer, relayed_broker.topic, "warm-up")]
    driver.settle(warm_up)
    relayed_broker.relay.cut()
    return warm_up


def send_lost(driver, pool, topic: str, count: int = 20) -> list:
    with driver.lease(pool) as producer:
        return [driver.send(producer, topic, f"lost-{i}") for i in range(count)]


def stored_offsets(relayed_broker) -> set[int]:
    return {r.offset for r in read_topic(relayed_broker.bootstrap_servers, relayed_broker.topic)}


def test_an_outage_reaches_the_senders_and_the_pool_heals(driver, relayed_broker):
    servers, topic = relayed_broker.bootstrap_servers, relayed_broker.topic
    pool = driver.pool(servers, max_size=2, close_timeout=10)

    def publish(prefix: str) -> list:
        with driver.lease(pool) as producer:
            return [driver.send(producer, topic, f"{prefix}-{i}") for i in range(20)]

    before = publish("before")
    driver.settle(before)
    relayed_broker.relay.cut()
    during = publish("during")
    driver.settle(during)
    assert any(d.outcome == "failed" for d in during), "senders must be told about the outage"

    relayed_broker.relay.resume()
    after = publish("after")
    driver.settle(after, timeout=60)
    closed = driver.close(pool)  # the outage's failures are reported again
    assert_outage_accounted(
        closed, driver.stats(pool), before + during + after, stored_offsets(relayed_broker)
    )


@pytest.mark.parametrize("timeout", [CLOSE_TIMEOUT, 0], ids=["by-deadline", "at-once"])
def test_close_in_an_outage_fails_and_reports_what_the_senders_callbacks_saw_fail(
    driver, relayed_broker, timeout
):
    """confluent: a sender's own `on_delivery=` once replaced the pool's counting callback,
    so close() reported 0 undelivered of 20 that failed. close(timeout=0) returned with no
    error (kafka-python, confluent: the destroys reported after it) or reported 0
    undelivered (aiokafka, confluent-aio: cancelled before they counted)."""
    pool = driver.pool(relayed_broker.bootstrap_servers, delivery_timeout_ms=60_000, max_size=1)
    warm_up = warm_up_then_cut(driver, pool, relayed_broker)
    lost = send_lost(driver, pool, relayed_broker.topic)
    closed, took = timed(lambda: driver.close(pool, timeout))
    assert took < CLOSE_TIMEOUT + CLOSE_HANG  # its deadline, not the delivery timeout
    driver.settle(lost, timeout=5)
    assert closed is not None and closed.undelivered == 20
    assert_outage_accounted(closed, driver.stats(pool), warm_up + lost)


def test_a_producer_retired_in_an_outage_is_cut_short_by_close_and_reported(
    driver, relayed_broker, jump_clock
):
    """A retired producer drained in the background with the deadline it read when it
    started (its own delivery timeout): close(timeout=3) returned after 3 s with no error,
    20 messages pending and none counted (kafka-python, confluent), or reported 0 of them
    and left them pending for good (aiokafka)."""
    pool = driver.pool(
        relayed_broker.bootstrap_servers, delivery_timeout_ms=60_000, max_size=1, max_lifetime=60
    )
    warm_up = warm_up_then_cut(driver, pool, relayed_broker)
    with driver.lease(pool) as producer:
        lost = [driver.send(producer, relayed_broker.topic, f"lost-{i}") for i in range(20)]
        jump_clock(60 * 1.1 + 1)  # its lifetime ends while it is leased: retired on return
    wait_until(lambda: driver.stats(pool).destroying == 1)  # draining in the background
    closed, took = timed(lambda: driver.close(pool, CLOSE_TIMEOUT))
    assert took < CLOSE_TIMEOUT + CLOSE_HANG  # its deadline, not the delivery timeout
    driver.settle(lost, timeout=5)
    assert closed is not None and closed.undelivered == 20
    assert_outage_accounted(closed, driver.stats(pool), warm_up + lost)


def test_a_close_cut_short_is_finished_and_reported_by_the_next(driver, relayed_broker):
    """aiokafka: after a close(10) cancelled at 0.5 s, the next close cancelled the destroy
    before it failed the pending futures: PoolCloseError(undelivered=0), 20 futures pending
    for good, and an unclosed producer."""
    pool = driver.pool(relayed_broker.bootstrap_servers, delivery_timeout_ms=60_000, max_size=1)
    warm_up = warm_up_then_cut(driver, pool, relayed_broker)
    lost = send_lost(driver, pool, relayed_broker.topic)
    driver.close_cut_short(pool, timeout=10, after=0.5)
    closed, took = timed(lambda: driver.close(pool, CLOSE_TIMEOUT))
    assert took < CLOSE_TIMEOUT + CLOSE_HANG  # its deadline, not the delivery timeout
    driver.settle(lost, timeout=5)
    assert closed is not None and closed.undelivered == 20
    assert_outage_accounted(closed, driver.stats(pool), warm_up + lost)


def test_a_dead_broker_at_start_is_one_clear_error_within_the_bootstrap_timeout(driver):
    servers = f"127.0.0.1:{free_port()}"  # nothing listens there
    pool = driver.pool(servers, settings={"bootstrap_timeout_ms": 1_000}, max_size=2)
    # The bootstrap timeout's own error, by its message: a hang would end in the lease's
    # PoolTimeout after 10 s instead (no timing to assert, which a loaded machine breaks).
    unavailable = f"cannot reach Kafka at {servers} within 1000 ms"
    with pytest.raises(BrokerUnavailable, match=unavailable), driver.lease(pool, timeout=10):
        pass
    assert driver.stats(pool).factory_errors == 1
    assert driver.stats(pool).size == 0
    assert driver.close(pool) is None


@pytest.mark.parametrize("fence_seen", ["in the block", "at commit"])
def test_a_fenced_producer_is_discarded_and_its_replacement_reuses_the_id(
    driver, kafka_bootstrap_servers, kafka_topic, fence_seen
):
    """Whichever error surfaces (kafka-python raises a plain KafkaError when the fence
    lands before commit), the next transaction gets a new producer with the same id."""
    needs_transactions(driver)
    prefix = f"fence-{driver.name}-{fence_seen.replace(' ', '-')}"
    pool = driver.pool(kafka_bootstrap_servers, transactional=True, prefix=prefix, max_size=1)
    with driver.transaction(pool) as producer:
        first = [driver.send(producer, kafka_topic, "first")]
        original = producer
    driver.fence(kafka_bootstrap_servers, f"{prefix}-0")  # bumps the epoch: a zombie now
    zombie = []
    # each client raises its own fence error
    with pytest.raises(Exception), driver.transaction(pool) as producer:  # noqa: B017
        zombie.append(driver.send(producer, kafka_topic, "from the zombie"))
        if fence_seen == "in the block":
            driver.settle(zombie)  # the broker's fence arrives with the reply
    with driver.transaction(pool) as producer:
        assert producer is not original
        after = [driver.send(producer, kafka_topic, "after fencing")]
    driver.settle(first + zombie + after)
    committed = {
        r.key
        for r in read_topic(kafka_bootstrap_servers, kafka_topic, isolation_level="read_committed")
    }
    assert {b"first", b"after fencing"} <= committed
    closed = driver.close(pool)
    assert_outage_accounted(closed, driver.stats(pool), first + zombie + after)


def test_a_transaction_commits_on_success_and_aborts_on_error(
    driver, kafka_bootstrap_servers, kafka_topic
):
    needs_transactions(driver)
    pool = driver.pool(
        kafka_bootstrap_servers, transactional=True, prefix=f"commit-{driver.name}", max_size=2
    )
    with driver.transaction(pool) as producer:
        sent = [driver.send(producer, kafka_topic, "committed")]
    with pytest.raises(RuntimeError, match="business rule"), driver.transaction(pool) as producer:
        sent.append(driver.send(producer, kafka_topic, "aborted"))
        driver.settle(sent)  # on the log, so only the ABORT marker hides it
        raise RuntimeError("business rule")
    with driver.transaction(pool) as producer:
        sent.append(driver.send(producer, kafka_topic, "committed-last"))
    driver.settle(sent)
    assert driver.close(pool) is None
    records = read_topic(kafka_bootstrap_servers, kafka_topic, isolation_level="read_committed")
    view = {r.key: r.offset for r in records}
    assert_aborted_closed_by_markers(view, b"committed", [b"aborted"], b"committed-last")


def test_a_commit_in_an_outage_ends_within_the_transaction_timeout(driver, relayed_broker):
    """kafka-python's commit_transaction() meeting an outage blocked forever, even once the
    broker was back: the lease never returned and close() said "ok"."""
    needs_transactions(driver)
    servers, topic = relayed_broker.bootstrap_servers, relayed_broker.topic
    prefix = f"outage-{driver.name}"
    pool = driver.pool(servers, transactional=True, prefix=prefix, max_size=1, close_timeout=10)
    with driver.transaction(pool) as producer:
        first = [driver.send(producer, topic, "first")]
        original = producer
    relayed_broker.relay.cut()
    lost = []
    started = time.monotonic()
    # a TransactionTimeout, or the client's own error for a commit that failed
    with pytest.raises(Exception) as caught, driver.transaction(pool) as producer:
        lost.append(driver.send(producer, topic, "lost"))
    assert time.monotonic() - started < TRANSACTION_TIMEOUT + CLOSE_HANG  # not forever
    assert driver.stats(pool).in_use == 0  # the lease is back
    relayed_broker.relay.resume()
    with driver.transaction(pool) as producer:
        assert producer is not original  # the one whose commit is unknown was discarded
        after = [driver.send(producer, topic, "after")]
    driver.settle(first + lost + after, timeout=60)
    committed = {r.key for r in read_topic(servers, topic, isolation_level="read_committed")}
    assert {b"first", b"after"} <= committed
    closed = driver.close(pool)
    assert_outage_accounted(closed, driver.stats(pool), first + lost + after)
    if driver.name == "kafka-python":
        assert isinstance(caught.value, TransactionTimeout)


def test_a_transaction_interrupted_during_its_commit_never_reaches_the_next_caller(
    driver, relayed_broker
):
    """confluent-aio: a task cancelled during commit_transaction() gave its producer back
    with the transaction still open; the next, unrelated caller failed with "Operation not
    valid in state InTransaction" (4 runs of 4)."""
    needs_transactions(driver)
    servers, topic = relayed_broker.bootstrap_servers, relayed_broker.topic
    prefix = f"interrupted-{driver.name}"
    pool = driver.pool(servers, transactional=True, prefix=prefix, max_size=1, close_timeout=10)
    with driver.transaction(pool) as producer:
        first = [driver.send(producer, topic, "first")]
    relayed_broker.relay.cut()  # the commit waits for the broker: time to interrupt it
    interrupted, lost = driver.interrupted_in_commit(pool, topic)
    relayed_broker.relay.resume()
    with driver.transaction(pool) as producer:
        assert producer is not interrupted
        after = [driver.send(producer, topic, "after")]
    driver.settle([*first, lost, *after], timeout=60)
    committed = {r.key for r in read_topic(servers, topic, isolation_level="read_committed")}
    assert {b"first", b"after"} <= committed
    closed = driver.close(pool)
    assert_outage_accounted(closed, driver.stats(pool), [*first, lost, *after])
