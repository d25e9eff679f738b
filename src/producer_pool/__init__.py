"""producer-pool: a correct, fast, observable pool of Kafka producers, or of any client object.

The core (`ProducerPool`, errors, stats) imports only the standard library; Kafka,
dependency-injector and the CLI live in their own modules and extras.
"""

from importlib import metadata as _metadata

from .core import (
    AsyncLease,
    AsyncProducerPool,
    DeliveryCounts,
    Durations,
    Lease,
    OnExhausted,
    PoolListener,
    PoolStats,
    ProducerPool,
)
from .errors import (
    BrokerUnavailable,
    ConfigError,
    PoolClosed,
    PoolCloseError,
    PoolError,
    PoolTimeout,
    TooManyWaiters,
    TransactionTimeout,
)

try:
    __version__ = _metadata.version("producer-pool")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "AsyncLease",
    "AsyncProducerPool",
    "BrokerUnavailable",
    "ConfigError",
    "DeliveryCounts",
    "Durations",
    "Lease",
    "OnExhausted",
    "PoolCloseError",
    "PoolClosed",
    "PoolError",
    "PoolListener",
    "PoolStats",
    "PoolTimeout",
    "ProducerPool",
    "TooManyWaiters",
    "TransactionTimeout",
]
