"""The Kafka clients, one *kit* each (`kit.ClientKit`): kafka-python, confluent
(`Producer`), confluent-aio (`AIOProducer`) and aiokafka, each in its own module behind
its extra, wired into a pool by `pool(kit)` or `async_pool(kit)`.

Importing this package imports no client library: `kit_class(name)` imports a kit when
asked for, and a missing extra is one line naming it.
"""

from .kit import KITS, AsyncClientKit, ClientKit, kit_class, register_kit, settings_model
from .pools import async_pool, pool
from .transactions import transaction

__all__ = [
    "KITS",
    "AsyncClientKit",
    "ClientKit",
    "async_pool",
    "kit_class",
    "pool",
    "register_kit",
    "settings_model",
    "transaction",
]
