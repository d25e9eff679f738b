"""In-memory fakes of each client's producer, as kits: a service's unit test overrides its
container's `producer_factory` with one and asserts on what was published, and on failures.

Each fake kit (`FakeKafkaPythonKit`, `FakeConfluentKit`, `FakeConfluentAIOKit`,
`FakeAIOKafkaKit`) makes producers with its client's API, results and exceptions, all
publishing to one `FakeBroker`; the kit repeats the broker's assertions and faults:
`published(topic)`, `failed()`, `fail_next(n)`, `with outage():`, `fence()`. Each client
module is imported only when its kit is asked for, so a fake needs only its own client.
"""

from __future__ import annotations

import importlib
from typing import Any

from .broker import FailedRecord, FakeBroker, FakeBrokerError, PublishedRecord

__all__ = [
    "FAKE_KITS",
    "FailedRecord",
    "FakeBroker",
    "FakeBrokerError",
    "PublishedRecord",
    "fake_kit_class",
]

FAKE_KITS = {
    "kafka-python": ("kafka_python", "FakeKafkaPythonKit"),
    "confluent": ("confluent", "FakeConfluentKit"),
    "confluent-aio": ("confluent", "FakeConfluentAIOKit"),
    "aiokafka": ("aiokafka", "FakeAIOKafkaKit"),
}
"""The fake kit of each kit name (`producer_pool.clients.KITS`): (module, class)."""


def fake_kit_class(name: str) -> Any:
    """The fake kit standing in for the kit `name`; its client library is imported now."""
    module, cls = FAKE_KITS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def __getattr__(name: str) -> Any:
    """`from producer_pool.testing.fakes import FakeConfluentKit`, importing only its client."""
    for kit, (_, cls) in FAKE_KITS.items():
        if name == cls:
            return fake_kit_class(kit)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
