"""The kit contract without a broker: the registry, the one wiring, and secrets by value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from producer_pool import ConfigError
from producer_pool.clients import KITS, async_pool, kit_class, pool
from producer_pool.clients.kit import AsyncClientKit, ClientKit

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
