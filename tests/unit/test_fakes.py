"""The fakes' own promises, for each client's fake: failures reach the caller and the pool's
count once, an outage holds messages until it ends (and a close cut short reports them), a
fence discards the producer and its replacement publishes, and a container overridden with
a fake publishes to it. What they share with the real clients is proven by the parity tests
(tests/integration/test_fake_parity.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from dependency_injector import providers

from producer_pool import PoolCloseError
from producer_pool.testing.fakes import FAKE_KITS, FakeBroker, FakeBrokerError, fake_kit_class
from producer_pool.wiring.containers import AsyncContainer, create_container
from tests.drivers import Driver

CLIENTS = list(FAKE_KITS)
#: The error each client tells a caller whose message failed.
FAILED = {
    "kafka-python": "KafkaTimeoutError",
    "confluent": "_MSG_TIMED_OUT",
    "confluent-aio": "KafkaException",
    "aiokafka": "KafkaTimeoutError",
}


@pytest.fixture(params=CLIENTS)
def client(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_next_sends_fail_and_each_failure_is_told_and_counted_once(client):
    kit = fake_kit_class(client)()
    driver = Driver(client, kit)
    kit.fail_next(2, reason="broker said no")
    handles = [driver.send_nowait("orders", f"{n}".encode()) for n in range(3)]
    assert [driver.outcome(h) for h in handles] == [FAILED[client]] * 2 + ["ok"]
    with pytest.raises(PoolCloseError) as closed:  # close() reports the failures again
        driver.close()
    assert closed.value.undelivered == 2
    assert (driver.pool.stats().delivered, driver.pool.stats().delivery_errors) == (1, 2)
    assert [r.value for r in kit.published("orders")] == [b"2"]
    assert [(f.value, f.reason) for f in kit.failed("orders")] == [
        (b"0", "broker said no"), (b"1", "broker said no")
    ]  # fmt: skip


def test_an_outage_holds_messages_until_it_ends(client):
    kit = fake_kit_class(client)()
    driver = Driver(client, kit)
    with kit.outage():
        held = driver.send_nowait("orders", b"held")
        assert driver.outcome(held, timeout=0.05) == "pending"
        assert kit.published("orders") == []
    assert driver.outcome(held) == "ok"
    with kit.outage(fail=True):
        lost = driver.send_nowait("orders", b"lost")
    assert driver.outcome(lost) == FAILED[client]
    with pytest.raises(PoolCloseError):
        driver.close()
    assert [r.value for r in kit.published("orders")] == [b"held"]


def test_a_close_cut_short_by_an_outage_reports_what_it_could_not_deliver(client):
    kit = fake_kit_class(client)()
    driver = Driver(client, kit)
    with kit.outage():
        handles = [driver.send_nowait("orders", f"{n}".encode()) for n in range(3)]
        driver.close_timeout = 0.2
        with pytest.raises(PoolCloseError, match="3 message"):
            driver.close()
    assert [driver.outcome(h) for h in handles] == [FAILED_AT_CLOSE[client]] * 3
    assert driver.pool.stats().delivery_errors == 3
    assert kit.published("orders") == []


#: The error each client tells a caller whose message was still queued when it closed.
FAILED_AT_CLOSE = {**FAILED, "confluent": "_PURGE_QUEUE"}


def test_a_fenced_producer_is_discarded_and_its_replacement_publishes(client):
    kit = fake_kit_class(client)(transactional=True, transactional_id_prefix="orders")
    driver = Driver(client, kit)
    driver.transaction("orders", b"before")
    kit.fence()
    with pytest.raises(Exception) as fenced:
        driver.transaction("orders", b"fenced")
    assert kit.is_fatal(fenced.value)
    driver.transaction("orders", b"after")
    driver.close()
    assert [r.key for r in kit.published("orders")] == [b"before", b"after"]
    assert driver.pool.stats().created == 2


def test_an_aborted_transaction_is_never_published(client):
    kit = fake_kit_class(client)(transactional=True)
    driver = Driver(client, kit)
    driver.transaction("orders", b"aborted", abort=True)
    driver.close()
    assert kit.published("orders") == []
    assert [r.key for r in kit.published("orders", committed=False)] == [b"aborted"]


def test_a_threaded_container_overridden_with_a_fake_publishes_to_it(fake_kafka_python):
    container = create_container(overrides={"publisher": {"topic": "orders"}})
    container.producer_factory.override(providers.Object(fake_kafka_python))
    pool = container.pool()
    try:
        container.publisher().publish({"order": 7}, key="order-7").get(1)
    finally:
        container.shutdown_resources()
    [record] = fake_kafka_python.published("orders")
    assert (record.key, record.value) == (b"order-7", b'{"order":7}')
    assert pool.stats().delivered == 1


def test_an_asyncio_container_overridden_with_a_fake_publishes_to_it(fake_aiokafka):
    async def publish() -> None:
        container = create_container(
            overrides={"publisher": {"topic": "orders"}}, container_class=AsyncContainer
        )
        container.async_producer_factory.override(providers.Object(fake_aiokafka))
        await container.init_resources()
        try:
            await (await container.async_publisher()).publish({"order": 7}, key="order-7")
        finally:
            await container.shutdown_resources()

    asyncio.run(publish())
    assert [r.key for r in fake_aiokafka.published("orders")] == [b"order-7"]


def test_partitions_are_chosen_as_a_client_would():
    broker = FakeBroker(partitions=3)
    assert broker.partition_for("t", None, 2) == 2
    assert broker.partition_for("t", b"key", None) == broker.partition_for("t", b"key", None)
    assert [broker.partition_for("t", None, None) for _ in range(4)] == [0, 1, 2, 0]
    with pytest.raises(FakeBrokerError, match="t has no partition 3"):
        broker.partition_for("t", None, 3)


@pytest.mark.parametrize(
    ("client", "missing"),
    [
        ("kafka-python", ["confluent_kafka", "aiokafka"]),
        ("confluent", ["kafka", "aiokafka"]),
        ("confluent-aio", ["kafka", "aiokafka"]),
        ("aiokafka", ["kafka", "confluent_kafka"]),
    ],
)
def test_a_fake_needs_only_its_own_client(client, missing):
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in missing)
    code = (
        f"import sys; {blocked}; from producer_pool.testing.fakes import fake_kit_class; "
        f"print(fake_kit_class({client!r})().name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == client, result.stderr
