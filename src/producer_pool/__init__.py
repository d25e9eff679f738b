"""producer-pool: a correct, fast, observable pool of Kafka producers, or of any client object.

The core (`ProducerPool`, errors, stats) imports only the standard library; Kafka,
dependency-injector and the CLI live in their own modules and extras.
"""

from .errors import (
    BrokerUnavailable,
    ConfigError,
    PoolClosed,
    PoolCloseError,
    PoolError,
    PoolTimeout,
    TooManyWaiters,
)
from .pool import Lease, OnExhausted, ProducerPool
from .stats import DeliveryCounts, PoolStats

__all__ = [
    "BrokerUnavailable",
    "ConfigError",
    "DeliveryCounts",
    "Lease",
    "OnExhausted",
    "PoolCloseError",
    "PoolClosed",
    "PoolError",
    "PoolStats",
    "PoolTimeout",
    "ProducerPool",
    "TooManyWaiters",
]
