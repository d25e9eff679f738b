"""The kit contract without a broker: the registry, the one wiring, and secrets by value."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from concurrent.futures import Future
from pathlib import Path
from typing import Literal

import pytest

from producer_pool import ConfigError, TransactionTimeout
from producer_pool.clients import KITS, async_pool, kit_class, pool, transaction
from producer_pool.clients._base import DrainClock, KitBase, is_broken
from producer_pool.clients.kit import AsyncClientKit, ClientKit, Header, KitEntry
from producer_pool.clients.settings import ClientSettings
from producer_pool.clients.transactions import TransactionalIds
from producer_pool.core.clock import Deadline
from producer_pool.wiring.containers import AsyncContainer, create_container
from producer_pool.wiring.services import AsyncEventPublisher

SERVERS = {"bootstrap_servers": "127.0.0.1:9"}


@pytest.mark.parametrize("name", sorted(KITS))
def test_every_registered_kit_is_found_by_its_name(name):
    kit = kit_class(name)(SERVERS)
    assert kit.name == name
    assert isinstance(kit.FATAL_ERRORS, tuple)
    protocol = AsyncClientKit if kit.is_async else ClientKit
    members = [m for m in dir(protocol) if not m.startswith("_") or m == "__call__"]
    assert [m for m in members if not hasattr(kit, m)] == []


def test_an_unknown_client_is_refused_with_a_suggestion():
    with pytest.raises(
        ConfigError, match=r"unknown Kafka client 'confluent_aio'.*did you mean confluent-aio\?"
    ):
        kit_class("confluent_aio")


@pytest.mark.parametrize(
    ("name", "blocked", "extra"),
    [("aiokafka", "aiokafka", "aiokafka"), ("confluent-aio", "confluent_kafka", "confluent")],
)
def test_a_kit_whose_client_is_missing_names_its_extra(name, blocked, extra):
    code = (
        f"import sys; sys.modules[{blocked!r}] = None; "
        f"from producer_pool.clients import kit_class; kit_class({name!r})"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert f"pip install 'producer-pool[{extra}]'" in result.stderr.splitlines()[-1]


def test_a_threaded_kit_is_refused_by_the_asyncio_wiring_and_back():
    with pytest.raises(ConfigError, match="use pool"):
        async_pool(kit_class("kafka-python")(SERVERS))
    with pytest.raises(ConfigError, match="use async_pool"):
        pool(kit_class("aiokafka")(SERVERS))


@pytest.mark.parametrize("option", ["destroy", "deliveries"])
def test_the_zero_loss_wiring_cannot_be_replaced_by_an_option(option):
    with pytest.raises(ConfigError, match=f"{option}: wired by the confluent kit"):
        pool(kit_class("confluent")(SERVERS), **{option: None})


async def _async_check(producer: object) -> bool:
    return True


def test_a_threaded_kit_refuses_an_async_check_of_yours_in_one_line():
    """The kit's wrapper around your check hid it from the threaded pool's own test: each
    reuse then leased the producer for good (its answer could not be awaited)."""
    with pytest.raises(ConfigError, match=r"^check is a coroutine function .*AsyncProducerPool$"):
        pool(kit_class("confluent")(SERVERS), check=_async_check)


def test_a_pool_refused_for_a_bad_option_leaves_its_kit_free_for_the_corrected_one():
    kit = kit_class("confluent")(SERVERS)
    with pytest.raises(ConfigError, match=r"^max_size must be an integer >= 1 \(got 0\)$"):
        pool(kit, max_size=0)
    pool(kit, max_size=2).close()  # was: "this confluent kit already serves a pool"


def test_a_kit_serves_one_pool():
    kit = kit_class("confluent")(SERVERS)
    pool(kit).close()
    with pytest.raises(ConfigError, match="already serves a pool"):
        pool(kit)


def test_a_transactional_kit_refuses_a_pool_larger_than_its_id_set():
    kit = kit_class("kafka-python")(SERVERS, transactional=True, max_size=2)
    with pytest.raises(ConfigError, match="max_size must be <= 2"):
        pool(kit, max_size=3)


def test_a_huge_transactional_id_set_costs_nothing_until_its_ids_are_used():
    """The set listed every id up front: `max_size: 1000000000` with `transactional: true`
    built an 8 GB list before the pool could start (a hang, then MemoryError; 10**12 is
    the MemoryError at once). Ids still go lowest free first."""
    ids = TransactionalIds(10**12, prefix="p")
    first = [ids.create(str) for _ in range(3)]
    assert first == ["p-0", "p-1", "p-2"]
    ids.release_for(first[1])
    assert [ids.create(str), ids.create(str)] == ["p-1", "p-3"]


PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
SECRETS = {
    "kafka-python": {"sasl_plain_password": "hunter22", "ssl_password": "pem-pass-1"},
    "aiokafka": {"sasl_plain_password": "hunter22"},
    "confluent": {
        "ssl.key.pem": PEM,
        "sasl.oauthbearer.config": "principal=svc clientSecret=s3cr3t-value scope=write",
        "sasl.jaas.config": 'PlainLoginModule required username="svc" password="jaas-pass-1";',
        "sasl_plain_password": "hunter22",
        "ssl_certificate_pem": PEM,  # however it is spelt
    },
}
SECRETS["confluent-aio"] = SECRETS["confluent"]
HIDDEN = [
    "hunter22",
    "pem-pass-1",
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    "s3cr3t-value",
    "jaas-pass-1",
]


@pytest.mark.parametrize("name", sorted(KITS))
def test_secrets_are_hidden_by_value_in_reprs_and_errors(name):
    """An inline `ssl.key.pem` and `sasl.oauthbearer.config`'s clientSecret were printed
    in full by `repr()` of the confluent factory: only key names were matched."""
    kit = kit_class(name)({**SERVERS, **SECRETS[name]})
    secret = next(iter(SECRETS[name].values()))
    texts = [repr(kit), str(kit._unavailable(f"the broker refused {secret!r}"))]
    assert [(text, s) for text in texts for s in HIDDEN if s in text] == []
    assert "***" in texts[0] and "127.0.0.1:9" in texts[1]


def test_librdkafka_log_lines_are_scrubbed_of_the_producers_secrets(caplog):
    kit = kit_class("confluent")({**SERVERS, **SECRETS["confluent"]})
    logger = kit._producer_config(None)["logger"]
    with caplog.at_level("DEBUG", logger="confluent_kafka"):
        logger.log(
            10,
            "CONF: sasl.oauthbearer.config = %s",
            SECRETS["confluent"]["sasl.oauthbearer.config"],
        )
    assert "s3cr3t-value" not in caplog.text and "***" in caplog.text


async def test_the_0_1_pool_functions_are_aliases_of_a_kit_and_its_wiring():
    from producer_pool.clients import aiokafka, confluent, kafka_python

    pools = [
        (kafka_python.kafka_pool(SERVERS, transactional=True), "KafkaPythonKit"),
        (confluent.confluent_pool(SERVERS, bootstrap_timeout=1.5), "ConfluentKit"),
        (confluent.confluent_async_pool(SERVERS), "ConfluentAIOKit"),
        (aiokafka.aiokafka_pool(SERVERS, max_size=1, on_exhausted="share"), "AIOKafkaKit"),
        (
            kafka_python.pool_for_factory(kafka_python.KafkaProducerFactory(SERVERS)),
            "KafkaPythonKit",
        ),
    ]
    for built, kit in pools:
        assert type(built.factory).__name__ == kit
        assert built.name == "127.0.0.1:9"
        result = built.close()
        if result is not None:
            await result
    assert pools[1][0].factory.bootstrap_timeout == 1.5
    assert pools[0][0].factory.requires_exclusive_leases


class MemoryProducer:
    """A producer that keeps what it is sent, and whose commit may hang."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.in_transaction = False
        self.closed = False
        self.sent: list[tuple[str, bytes | None, bytes | None, tuple[Header, ...]]] = []

    def keep(self, topic, value, key, headers) -> int:
        self.sent.append((topic, key, value, tuple(headers)))
        return len(self.sent) - 1  # the message's offset: its delivery's result


class MemorySettings(ClientSettings):
    """Its settings model: what a YAML file's `kafka:` section may say for it."""

    CLIENT = "memory"
    client: Literal["memory", "memory-aio"] = "memory"


class MemoryKit(KitBase):
    """A fifth client, all of it: one class (and `register_kit`), no change to the pools,
    the transactions, the containers or the publishers."""

    name = "memory"
    settings_model = f"{__name__}:MemorySettings"
    close = staticmethod(
        lambda producer, timeout=None, *, deadline=None: producer.__setattr__("closed", True)
    )
    is_healthy = staticmethod(lambda producer: not is_broken(producer))
    is_fatal = staticmethod(lambda exc, producer=None: False)
    drain_timeout = 1.0
    transaction_timeout = 0.05

    def __init__(self, settings, **options):
        super().__init__(settings, **options)
        self.made: list[MemoryProducer] = []
        self.commits_finish = True

    def __call__(self) -> MemoryProducer:
        self.made.append(MemoryProducer(len(self.made) + 1))
        return self.made[-1]

    @staticmethod
    def send(producer, topic, value, key=None, headers=()) -> Future[int]:
        delivery: Future[int] = Future()
        delivery.set_result(producer.keep(topic, value, key, headers))
        return delivery

    def begin(self, producer: MemoryProducer) -> None:
        assert not producer.in_transaction, "handed out with a transaction open"
        producer.in_transaction = True

    def commit(self, producer: MemoryProducer) -> None:
        self._end(producer, lambda timeout: self._ended(producer), "commit")

    def abort(self, producer: MemoryProducer) -> None:
        self._end(producer, lambda timeout: self._ended(producer), "abort")

    def _ended(self, producer: MemoryProducer) -> bool:
        """False: it did not finish in time (the transaction stays open)."""
        if self.commits_finish:
            producer.in_transaction = False
        return self.commits_finish


class AsyncMemoryKit(MemoryKit):
    """The same client for asyncio: coroutines where the contract says so."""

    name = "memory-aio"
    is_async = True

    async def __call__(self) -> MemoryProducer:
        return MemoryKit.__call__(self)

    async def destroy(self, producer, timeout=None, *, deadline=None) -> None:
        MemoryKit.destroy(self, producer, timeout, deadline=deadline)

    @staticmethod
    async def send(producer, topic, value, key=None, headers=()) -> asyncio.Future[int]:
        delivery = asyncio.get_running_loop().create_future()
        delivery.set_result(producer.keep(topic, value, key, headers))
        return delivery


@pytest.fixture
def memory_clients(monkeypatch):
    """The fifth client registered, as its package would: one line per kit class."""
    monkeypatch.setitem(KITS, "memory", KitEntry(__name__, "MemoryKit", "none"))
    monkeypatch.setitem(KITS, "memory-aio", KitEntry(__name__, "AsyncMemoryKit", "none"))


def test_a_client_of_your_own_is_one_kit_class_and_one_registration(memory_clients):
    kit = kit_class("memory")(SERVERS, transactional=True)
    with pool(kit, max_size=1) as the_pool:
        assert the_pool.factory is kit  # public: what transaction(pool) finds the steps on
        with transaction(the_pool) as producer:
            first = producer
        kit.commits_finish = False  # the broker went away mid-commit
        timed_out = pytest.raises(TransactionTimeout, match=r"commit did not finish within 0.05s")
        with timed_out, transaction(the_pool) as producer:
            assert producer is first
        assert the_pool.stats().in_use == 0  # the lease came back, the producer went
        kit.commits_finish = True
        with transaction(the_pool) as producer:
            assert producer is not first and producer.number == 2
    assert first.closed


def memory_config(tmp_path, client: str) -> Path:
    path = tmp_path / f"{client}.yaml"
    path.write_text(
        f"kafka:\n  client: {client}\n  bootstrap_servers: memory:1\npublisher:\n  topic: orders\n"
    )
    return path


def test_a_client_of_your_own_publishes_through_a_container_and_its_publisher(
    memory_clients, tmp_path
):
    """Sending is the kit's too: the container and `EventPublisher` need no entry for it
    (they did: "no publisher for the memory client here")."""
    container = create_container(memory_config(tmp_path, "memory"))
    container.init_resources()
    try:
        publisher = container.publisher()
        assert publisher.publish({"n": 1}, key="c-7", headers=[("h", b"1")]).result(0) == 0
        assert [f.result(0) for f in publisher.publish_many([{"n": 2}, {"n": 3}])] == [1, 2]
    finally:
        container.shutdown_resources()
    [producer] = container.producer_factory().made
    assert producer.sent == [
        ("orders", b"c-7", b'{"n":1}', (("h", b"1"),)),
        ("orders", None, b'{"n":2}', ()),
        ("orders", None, b'{"n":3}', ()),
    ]
    assert producer.closed


def test_an_asyncio_client_of_your_own_publishes_through_a_container_and_its_publisher(
    memory_clients, tmp_path
):
    async def publish() -> list[object]:
        container = create_container(
            memory_config(tmp_path, "memory-aio"), container_class=AsyncContainer
        )
        await container.init_resources()
        try:
            publisher = await container.async_publisher()
            first = await publisher.publish({"n": 1}, key="c-7", headers=[("h", b"1")])
            return [first, *await publisher.publish_many([{"n": 2}, {"n": 3}])]
        finally:
            await container.shutdown_resources()

    assert asyncio.run(publish()) == [0, 1, 2]


def test_a_publisher_refuses_a_kit_of_the_other_kind(memory_clients):
    refused = pytest.raises(ConfigError, match="the memory client needs EventPublisher")
    with pool(kit_class("memory")(SERVERS)) as threaded, refused:
        AsyncEventPublisher(threaded, "orders")


def test_a_drain_stops_at_a_deadline_brought_forward_while_it_runs(clock):
    """close() brings the destroys' deadline forward: a drain that read it once, when it
    started, drained on for its own delivery timeout past the close."""
    close_deadline = Deadline(math.inf)
    drain = DrainClock(120.0, close_deadline)  # a retired producer, its own timeout
    assert drain.next_slice() == pytest.approx(0.1)
    close_deadline.bring_forward(Deadline(2.5))  # close(timeout) begins meanwhile
    assert drain.next_slice() == pytest.approx(0.1)  # the next slice sees it
    assert drain.remaining() == pytest.approx(2.5)
    clock.advance(1.9)  # 0.6 s left: 20 % of 2.5 s is kept for the clean-up
    assert drain.next_slice() == pytest.approx(0.1)
    clock.advance(0.1)
    assert drain.next_slice() == pytest.approx(0.0, abs=1e-9)  # the rest is for the clean-up
    assert drain.remaining() == pytest.approx(0.5)
