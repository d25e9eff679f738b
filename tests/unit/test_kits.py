"""The kit contract without a broker: the registry, the one wiring, and secrets by value."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from producer_pool import ConfigError, TransactionTimeout
from producer_pool.clients import KITS, async_pool, kit_class, pool, transaction
from producer_pool.clients._base import DrainClock, KitBase, is_broken
from producer_pool.clients.kit import AsyncClientKit, ClientKit, KitEntry
from producer_pool.core.clock import Deadline

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


def test_a_kit_serves_one_pool():
    kit = kit_class("confluent")(SERVERS)
    pool(kit).close()
    with pytest.raises(ConfigError, match="already serves a pool"):
        pool(kit)


def test_a_transactional_kit_refuses_a_pool_larger_than_its_id_set():
    kit = kit_class("kafka-python")(SERVERS, transactional=True, max_size=2)
    with pytest.raises(ConfigError, match="max_size must be <= 2"):
        pool(kit, max_size=3)


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


class MemoryKit(KitBase):
    """A fifth client, all of it: one class (and `register_kit`), no change to the pools."""

    name = "memory"
    close = staticmethod(
        lambda producer, timeout=None, *, deadline=None: producer.__setattr__("closed", True)
    )
    is_healthy = staticmethod(lambda producer: not is_broken(producer))
    is_fatal = staticmethod(lambda exc, producer=None: False)
    drain_timeout = 1.0
    transaction_timeout = 0.05

    def __init__(self, settings, **options):
        super().__init__(settings, **options)
        self.made = 0
        self.commits_finish = True

    def __call__(self) -> MemoryProducer:
        self.made += 1
        return MemoryProducer(self.made)

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


def test_a_client_of_your_own_is_one_kit_class_and_one_registration(monkeypatch):
    monkeypatch.setitem(KITS, "memory", KitEntry(__name__, "MemoryKit", "none"))
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
