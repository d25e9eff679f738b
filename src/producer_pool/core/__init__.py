"""The pool itself, standard library only: the threaded and asyncio pools, their books and
shared control flow, options, clock, housekeeper, fork registry, histograms, stats, events.

Nothing here imports a Kafka client, the wiring or the command: those sit above it.
"""

from .async_pool import AsyncLease, AsyncProducerPool
from .events import PoolListener
from .histogram import Durations
from .options import OnExhausted, PoolKwargs
from .pool import Lease, ProducerPool
from .stats import DeliveryCounts, PoolStats

__all__ = [
    "AsyncLease",
    "AsyncProducerPool",
    "DeliveryCounts",
    "Durations",
    "Lease",
    "OnExhausted",
    "PoolKwargs",
    "PoolListener",
    "PoolStats",
    "ProducerPool",
]
